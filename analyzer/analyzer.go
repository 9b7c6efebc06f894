package analyzer

import (
	"runtime"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"teardown/reassembly"
)

// Config tunes the analysis.
type Config struct {
	// TimeWait is how long the active closer stays in TIME_WAIT (Linux:
	// TCP_TIMEWAIT_LEN, 60 s). Zero means 60 s.
	TimeWait time.Duration

	// FrameName formats a frame reference in verdict sentences. nil means
	// the bare frame number, which is right for a single input; with several
	// inputs the caller names the file ("a.pcap:12").
	FrameName func(FrameRef) string

	// Detail, when set, is asked for each finished flow whether its
	// verdict sentence, decisive frames and timeline are wanted; when it
	// says no they are left empty, which saves most of the cost of a flow
	// nobody will print. Every other field is always filled in. The Flow
	// it is given is valid only during the call.
	Detail func(*Flow) bool

	// Reuse, when set, lets the analyzer make each Flow it emits in the
	// memory of the one before: the Flow passed to emit, its Events, its
	// Decisive map, its Reset and LateDuplicate are valid only during the
	// call, and the callee copies what it keeps. It spares an allocation
	// of each per flow, and the collector's work to free them.
	Reuse bool
}

// Stats counts what the analyzer saw.
type Stats struct {
	Segments  int64 // segments fed
	Flows     int64 // flow incarnations created
	OpenFlows int   // flows not yet emitted
	PeakOpen  int   // highest OpenFlows seen
	OffHeap   int64 // bytes mapped outside the Go heap: flows, their details, 5-tuples, table slots, queues
}

// Analyzer follows every TCP flow incarnation in a stream of segments, in
// capture-time order, and emits each flow once its verdict is final: when
// it is closed and its TIME_WAIT has passed in capture time, or at Close.
// Memory is bounded by the flows not yet emitted: a 5-tuple is forgotten
// once its last incarnation is emitted. It is not safe for concurrent use.
type Analyzer struct {
	cfg    Config
	emit   func(*Flow)
	tuples *table
	queue  fifo      // closed or superseded flows waiting for their TIME_WAIT to pass, by due time
	mem    *mappings // the chunks of the arenas and of the tuples, outside the Go heap
	// Arenas of what flows are made of, outside the Go heap.
	flows   arena[core]
	dets    arena[detail]
	evMores arena[evMore]
	tails   arena[tailRing]
	rares   arena[rareEvidence]
	recBuf  []rec  // reused by events
	vbuf    []byte // reused by verdict
	ebuf    []byte // reused by resetInfo
	qchunks arena[qchunk]

	pks pkStore // the packed verdicts of settled flows, named by core.pki

	// settleQ holds closed flows until they have been quiet for their
	// settle window, oldest first: [0] those with the short window, [1]
	// the rest (see settleAfter).
	settleQ [2]fifo
	now     int64             // latest capture time seen
	scratch Flow              // a verdict being computed; see settle
	out     outBuf            // the emitted Flows under Config.Reuse
	noteStr map[note][]string // the timeline notes, made once per set (see noteStrings)
	late    map[int]*fpRing   // capture-copy rings of settled flows that got a segment, by flow id (see isCopy)
	pkBuf   []byte            // reused by pack
	dict    textDict          // the words of the packed verdicts' sentences
	nextID  int
	stats   Stats
}

// qent is a queued flow. A flow is not recycled while an entry refers to
// it (see core.qrefs), so an entry never points at another flow's core.
type qent struct {
	f  *core
	at int64 // when it is due
}

// live returns the entry's flow if it is still waiting, else nil.
func (e qent) live() *core {
	if e.f != nil && !e.f.has(cbReleased) && !e.f.has(cbEmitted) {
		return e.f
	}
	return nil
}

// push queues f in q, due at.
func (a *Analyzer) push(q *fifo, f *core, at int64) {
	f.qrefs++
	q.push(qent{f: f, at: at})
}

// pop drops the oldest entry of q, e, and returns its flow unless it was
// released; a released flow goes back to its arena with its last entry.
func (a *Analyzer) pop(q *fifo, e qent) *core {
	q.pop()
	f := e.f
	f.qrefs--
	if !f.has(cbReleased) {
		return f
	}
	if f.qrefs == 0 {
		a.flows.put(f)
	}
	return nil
}

// enqueue puts a closed or superseded flow in the TIME_WAIT queue, once.
func (a *Analyzer) enqueue(f *core) {
	if !f.has(cbQueued) {
		f.set(cbQueued, true)
		a.push(&a.queue, f, f.lastAt+int64(a.cfg.TimeWait))
	}
}

// tuple is one 5-tuple: its current incarnation and the one before it,
// kept so that a late duplicate can be attributed. It is 64 bytes, a cache
// line: the key, compared on every lookup, and the current incarnation are
// read together.
type tuple struct {
	key  reassembly.Key
	tag  uint32 // the key's hash, as in its slot
	cur  *core  // the newest incarnation (its inc: the incarnations so far)
	prev *core
	idx  uint32 // index in the table's chunks
	refs uint32 // flows that refer to it (flow.t), and inTable
}

// inTable is the bit of tuple.refs that says the tuple is in the table.
const inTable = 1 << 31

// live reports whether t is in the table.
func (t *tuple) live() bool { return t.refs&inTable != 0 }

// New returns an Analyzer that passes each finished flow to emit. The Flow
// belongs to the callee.
func New(cfg Config, emit func(*Flow)) *Analyzer {
	if cfg.TimeWait <= 0 {
		cfg.TimeWait = 60 * time.Second
	}
	if cfg.FrameName == nil {
		cfg.FrameName = func(r FrameRef) string { return strconv.FormatInt(r.Frame, 10) }
	}
	a := &Analyzer{cfg: cfg, emit: emit, mem: &mappings{}}
	a.open()
	a.mem.watch(a)
	return a
}

// open makes the analyzer's table, arenas and queues, empty, unless it
// has them: New, and the first use after Close.
func (a *Analyzer) open() {
	if a.tuples != nil {
		return
	}
	m := a.mem
	a.tuples = newTable(m)
	a.pks = pkStore{m: m}
	a.flows, a.dets, a.evMores, a.tails = newArena[core](m), newArena[detail](m), newArena[evMore](m), newArena[tailRing](m)
	a.rares, a.qchunks = newArena[rareEvidence](m), newArena[qchunk](m)
	a.queue, a.settleQ = fifo{ar: &a.qchunks}, [2]fifo{{ar: &a.qchunks}, {ar: &a.qchunks}}
}

// unmap forgets the table, arenas and queues, which must hold no flow any
// more, and unmaps their chunks.
func (a *Analyzer) unmap() {
	a.tuples = nil
	a.flows, a.dets, a.evMores, a.tails, a.qchunks = arena[core]{}, arena[detail]{}, arena[evMore]{}, arena[tailRing]{}, arena[qchunk]{}
	a.rares = arena[rareEvidence]{}
	a.queue, a.settleQ = fifo{}, [2]fifo{}
	a.pks = pkStore{}
	a.late = nil
	a.dict = textDict{}
	a.mem.release()
}

// view returns f's working view: the core with its detail.
func (a *Analyzer) view(c *core) flow { return flow{core: c, a: a, d: c.det} }

// newDetail gives f a fresh detail. Only its head is zeroed: the event
// records are a third of it, and a recycled detail's are never read
// before they are written again.
func (a *Analyzer) newDetail(f *flow) {
	d := a.dets.get()
	d.detailHead = detailHead{}
	f.det, f.d = d, d
}

// dropDetail recycles the detail of c, if it has one.
func (a *Analyzer) dropDetail(c *core) {
	d := c.det
	if d == nil {
		return
	}
	if d.evMore != nil {
		a.evMores.put(d.evMore)
	}
	if d.tail != nil {
		a.tails.put(d.tail)
	}
	if d.x != nil {
		a.rares.put(d.x)
	}
	a.dets.put(d)
	c.det = nil
}

// str returns b as a string and keeps b's array for the next use of
// ebuf.
func (a *Analyzer) str(b []byte) string {
	a.ebuf = b[:0]
	return string(b)
}

// lateRing returns the capture-copy ring of c, a settled flow, making it
// when c has none.
func (a *Analyzer) lateRing(c *core) *fpRing {
	r := a.late[c.id]
	if r == nil {
		if a.late == nil {
			a.late = make(map[int]*fpRing)
		}
		r = new(fpRing)
		a.late[c.id] = r
	}
	return r
}

// setPacked keeps r, packed, as the verdict of c.
func (a *Analyzer) setPacked(c *core, r *Flow) {
	a.pkBuf = packFlow(a.pkBuf[:0], r, &a.dict)
	c.pki = a.pks.put(c.pki, a.pkBuf)
}

// packed returns the verdict of c, which has one, unpacked into new
// buffers.
func (a *Analyzer) packed(c *core) *Flow {
	r, f := new(Flow), a.view(c)
	f.coreInto(r)
	unpackFlow(a.pks.get(c.pki), r, nil, &a.dict)
	return r
}

// dropPacked forgets the verdict of c, if it has one.
func (a *Analyzer) dropPacked(c *core) {
	a.pks.drop(c.pki)
	c.pki = 0
}

// Stats returns the counters so far.
func (a *Analyzer) Stats() Stats {
	st := a.stats
	st.OffHeap = a.mem.bytes
	return st
}

// Add feeds one segment. Segments must come in capture order; a segment
// earlier than one already seen is processed as if it came at the latest
// time seen.
func (a *Analyzer) Add(s *reassembly.Segment) {
	a.open()
	a.add(s)
	runtime.KeepAlive(a) // see mappings.watch
}

// add is Add without keeping the receiver alive.
func (a *Analyzer) add(s *reassembly.Segment) {
	a.stats.Segments++
	if s.At > a.now {
		a.now = s.At
		a.expire()
	}
	k, _ := reassembly.KeyOf(s)
	t := a.tuples.getOrAdd(&k)
	src := reassembly.AddrPort{Addr: s.Src, Port: s.SrcPort}
	bareSYN := s.Flags&(reassembly.FlagSYN|reassembly.FlagACK|reassembly.FlagRST) == reassembly.FlagSYN
	c := t.cur
	if c != nil && bareSYN && c.startsNew(s, src) {
		// The old incarnation stays reachable as t.prev until its TIME_WAIT
		// passes, so that late duplicates can be attributed to it.
		if c.det != nil {
			f := a.view(c)
			f.rareW().supersededBy = FrameRef{File: s.File, Frame: s.Frame}
		}
		a.enqueue(c)
		c = nil
	}
	if c != nil && c.det != nil && t.prev != nil && !bareSYN && c.inc > 1 {
		if f, old := a.view(c), t.prev; f.isOldSegment(old, s, src) {
			f.oldSegment(old, s, src)
			return
		}
	}
	if c == nil {
		c = a.newFlow(t, s, src)
	}
	if c.has(cbEmitted) {
		// A late segment of an incarnation closed by RST whose verdict
		// is already out (see settle): nothing can change it now.
		return
	}
	f := a.view(c)
	if f.d == nil {
		f.addSettled(s, src)
		return
	}
	f.add(s, src, a)
	if c.has(cbClosed) {
		a.enqueue(c)
		if !c.has(cbSettleQueued) {
			c.set(cbSettleQueued, true)
			a.settleQueue(&f)
		}
	}
}

// newFlow starts the next incarnation of t with segment s.
func (a *Analyzer) newFlow(t *tuple, s *reassembly.Segment, src reassembly.AddrPort) *core {
	a.nextID++
	a.stats.Flows++
	c := a.flows.get()
	*c = core{}
	c.t, c.id, c.inc = t, a.nextID, 1
	if t.cur != nil {
		c.inc = t.cur.inc + 1
	}
	t.refs++
	f := flow{core: c, a: a}
	a.newDetail(&f)
	dst := reassembly.AddrPort{Addr: s.Dst, Port: s.DstPort}
	client := src
	switch {
	case s.Flags&(reassembly.FlagSYN|reassembly.FlagACK) == reassembly.FlagSYN:
	case s.Flags&(reassembly.FlagSYN|reassembly.FlagACK) == reassembly.FlagSYN|reassembly.FlagACK:
		client = dst
	default:
		// No handshake: the lower port (a well-known or registered port)
		// is taken as the server, as Wireshark and Zeek guess.
		f.set(cbDirGuessed, true)
		if guessServer(src.Port, dst.Port) == 0 {
			client = dst
		}
	}
	f.set(cbClientHi, client == t.key.Hi && client != t.key.Lo)
	if t.cur != nil {
		if old := t.prev; old != nil && old.has(cbEmitted) && old.t == t {
			// Dropped from the tuple's history. Once emitted it has
			// nothing left to do: it is recycled once its queue entries
			// are popped, and the tuple is freed when its last flow is.
			a.release(old)
		}
		t.prev = t.cur
	}
	if prev := t.prev; prev != nil && prev != c {
		// A new incarnation while the previous one's active closer is still
		// in TIME_WAIT: the kernel let a reuse through (tcp_tw_reuse, or a
		// listener accepting a higher ISN/timestamp).
		for side := Client; side <= Server; side++ {
			if prev.st[side] == StateTimeWait && prev.twStart[side] != 0 &&
				s.At-prev.twStart[side] < int64(a.cfg.TimeWait) {
				f.flags.Set(FlagReuseInTimeWait)
				x := f.rareW()
				x.reusedAfter, x.reusedFrom, x.reusedHolder = s.At-prev.twStart[side], side, prev.endpoint(side)
			}
		}
	}
	t.cur = c
	a.stats.OpenFlows++
	if a.stats.OpenFlows > a.stats.PeakOpen {
		a.stats.PeakOpen = a.stats.OpenFlows
	}
	return c
}

// guessServer returns 0 if port a looks like the server's, 1 if b does.
func guessServer(a, b uint16) int {
	if a < b {
		return 0
	}
	return 1
}

// settleWindow is how long a closed flow keeps its evidence and timeline
// in full before it is settled: long enough for the retransmissions of a
// FIN whose ACK was lost to arrive while the class can still change. Only
// the first retransmission must come within it (each segment restarts the
// wait); Linux sends it after the retransmission timeout, at least 200 ms
// and about RTT + 4 × RTT variance.
const settleWindow = int64(5e9)

// settleShort is the settle window of a flow whose handshake measured a
// round trip of at most shortRTT, where the timeout is far below it.
const (
	settleShort = int64(1.5e9)
	shortRTT    = int64(100e6)
)

// settleAfter says which settle queue f belongs in and how long its window
// is: the short one when its handshake showed a short round trip, else
// the full one. A FIN sent again after the window amends the verdict
// (see addSettled) instead of changing the class.
func (f *flow) settleAfter() (int, int64) {
	d := f.d
	if d.syn.ok && d.hsAck.ok {
		if rtt := d.hsAck.at - d.syn.at; rtt >= 0 && rtt <= shortRTT {
			return 0, settleShort
		}
	}
	return 1, settleWindow
}

// settleQueue queues f to settle once it has been quiet for its window.
func (a *Analyzer) settleQueue(f *flow) {
	i, w := f.settleAfter()
	a.push(&a.settleQ[i], f.core, f.lastAt+w)
}

// fifo is a queue of flows in the order they are due: a list of chunks
// from an off-heap arena, so that a queue as long as the open flows costs
// 16 bytes an entry, with neither the slack of a growing slice nor the
// collector's attention.
type fifo struct {
	head, tail *qchunk
	hi, ti     int // next entry to read in head, to write in tail
	ar         *arena[qchunk]
}

// qchunk is a piece of a fifo.
type qchunk struct {
	e    [qchunkLen]qent
	next *qchunk
}

const qchunkLen = 255 // a chunk is 4 KiB

func (q *fifo) push(e qent) {
	if q.tail == nil || q.ti == qchunkLen {
		c := q.ar.get()
		c.next = nil
		if q.tail == nil {
			q.head, q.hi = c, 0
		} else {
			q.tail.next = c
		}
		q.tail, q.ti = c, 0
	}
	q.tail.e[q.ti] = e
	q.ti++
}

// peek returns the oldest entry; ok is false when the queue is empty.
func (q *fifo) peek() (e qent, ok bool) {
	if q.head == nil || (q.head == q.tail && q.hi == q.ti) {
		return qent{}, false
	}
	return q.head.e[q.hi], true
}

// ahead returns the entry k places after the oldest, k < qchunkLen; ok
// is false when the queue is shorter.
func (q *fifo) ahead(k int) (e qent, ok bool) {
	c, i := q.head, q.hi+k
	if c != nil && i >= qchunkLen {
		c, i = c.next, i-qchunkLen
	}
	if c == nil || (c == q.tail && i >= q.ti) {
		return qent{}, false
	}
	return c.e[i], true
}

// pop drops the oldest entry; the queue must not be empty.
func (q *fifo) pop() {
	q.hi++
	if q.hi == qchunkLen || (q.head == q.tail && q.hi == q.ti) {
		c := q.head
		if c == q.tail {
			q.head, q.tail, q.ti = nil, nil, 0
		} else {
			q.head = c.next
		}
		q.hi = 0
		q.ar.put(c)
	}
}

// each calls fn for every entry, oldest first.
func (q *fifo) each(fn func(qent)) {
	for c, i := q.head, q.hi; c != nil; c, i = c.next, 0 {
		end := qchunkLen
		if c == q.tail {
			end = q.ti
		}
		for ; i < end; i++ {
			fn(c.e[i])
		}
	}
}

// reset empties the queue.
func (q *fifo) reset() {
	for q.head != nil {
		c := q.head
		q.head = c.next
		q.ar.put(c)
	}
	q.tail, q.hi, q.ti = nil, 0, 0
}

// expire settles the closed flows that have been quiet for their settle
// window and emits those whose TIME_WAIT has passed.
func (a *Analyzer) expire() {
	for i := range a.settleQ {
		q := &a.settleQ[i]
		for {
			e, ok := q.peek()
			if !ok || e.at > a.now {
				break // the oldest is not due yet
			}
			a.settleAhead(q)
			c := a.pop(q, e)
			if c == nil || c.has(cbEmitted) || c.det == nil {
				continue
			}
			f := a.view(c)
			switch _, w := f.settleAfter(); {
			case f.lastAt+w > a.now:
				// Active again since it was queued: wait anew.
				a.settleQueue(&f)
			default:
				f.settle()
			}
		}
	}
	// The queue is in the order flows closed; a flow active since then
	// goes to the back with its new due time. The due time is checked
	// before the flow is touched.
	tw := int64(a.cfg.TimeWait)
	for {
		e, ok := a.queue.peek()
		if !ok || e.at > a.now {
			break
		}
		a.finishAhead()
		switch f := a.pop(&a.queue, e); {
		case f == nil:
		case f.lastAt+tw > a.now:
			a.push(&a.queue, f, f.lastAt+tw)
		default:
			a.finish(f)
		}
	}
}

// The flows due in a queue were last touched seconds ago (a settle
// window) or a minute ago (TIME_WAIT): their memory has left the cache.
// While expire works on one, it asks for what it will read of the next
// ones, a flow's core first, then what the core points to, so that their
// loads overlap instead of following one another. An entry's core is
// never recycled while the entry is queued (see pop), so reading it ahead
// is safe. The distances were measured on the benchmark capture: 6% of
// the analysis time.

// settleAhead prefetches for the settle queue q: the core 16 entries
// ahead, and the detail of the one 8 ahead, whose settle window is read.
func (a *Analyzer) settleAhead(q *fifo) {
	if e, ok := q.ahead(16); ok {
		prefetch(unsafe.Pointer(e.f))
	}
	if e, ok := q.ahead(8); ok && e.f.det != nil { // nil once released
		prefetch(unsafe.Pointer(e.f.det))
	}
}

// finishAhead prefetches for the TIME_WAIT queue: the core 16 entries
// ahead, the tuple of the one 8 ahead and the table slot of the one 4
// ahead, which finish reads to take the tuple out of the table.
func (a *Analyzer) finishAhead() {
	if e, ok := a.queue.ahead(16); ok {
		prefetch(unsafe.Pointer(e.f))
	}
	if e, ok := a.queue.ahead(8); ok && e.f.t != nil {
		prefetch(unsafe.Pointer(e.f.t))
	}
	if e, ok := a.queue.ahead(4); ok && e.f.t != nil {
		a.tuples.prefetchSlot(e.f.t)
	}
}

// emitNow emits f's verdict. The flow may stay in its tuple afterwards, to
// number the incarnations that follow and to attribute late duplicates.
func (a *Analyzer) emitNow(c *core) {
	var res *Flow
	switch f := a.view(c); {
	case c.pki != 0:
		res = a.reuse().flowOf()
		f.coreInto(res)
		unpackFlow(a.pks.get(c.pki), res, a.reuse(), &a.dict)
		a.dropPacked(c)
	case c.has(cbHasSum):
		res = f.rebuild()
	default:
		res = f.result()
	}
	a.emitResult(c, res)
}

// emitResult emits res as f's verdict.
func (a *Analyzer) emitResult(f *core, res *Flow) {
	f.set(cbEmitted, true)
	a.stats.OpenFlows--
	a.emit(res)
}

// finish emits f unless it was emitted early (see settle) and forgets it:
// the tuple is forgotten with its newest incarnation (an older one still
// waiting stays reachable through the queue), and a flow no live tuple
// refers to any more is recycled.
func (a *Analyzer) finish(f *core) {
	if f.t == nil {
		return // already recycled
	}
	if !f.has(cbEmitted) {
		a.emitNow(f)
	}
	t := f.t
	live := t.live()
	if live && (t.cur == f || t.cur.has(cbEmitted)) {
		a.tuples.remove(t)
		live = false
		for _, g := range [2]*core{t.prev, t.cur} {
			if g != nil && g != f && g.has(cbEmitted) && g.t == t {
				a.release(g)
			}
		}
	}
	if !live || (t.cur != f && t.prev != f) {
		a.release(f)
	}
}

// release makes an emitted flow available for reuse: now, or once the
// last queue entry that points at it is popped (see pop).
func (a *Analyzer) release(f *core) {
	if len(a.late) > 0 {
		delete(a.late, f.id)
	}
	f.set(cbReleased, true)
	a.tuples.unref(f.t)
	f.t = nil
	a.dropDetail(f)
	a.dropPacked(f)
	if f.qrefs == 0 {
		a.flows.put(f)
	}
}

// Close finishes every flow still open with the verdict the evidence
// supports (open, close-wait, fin-wait, ...) and emits them in the order
// they started. Then it returns the memory it kept for them to the system
// (an Add after Close starts afresh, with flow ids going on).
func (a *Analyzer) Close() {
	defer runtime.KeepAlive(a) // see mappings.watch
	a.open()
	rest := make([]*core, 0, a.stats.OpenFlows)
	collect := func(f *core) {
		if f != nil && !f.has(cbEmitted) && !f.has(cbAtEnd) {
			f.set(cbAtEnd, true) // and collected once
			rest = append(rest, f)
		}
	}
	a.tuples.each(func(t *tuple) { collect(t.cur) })
	a.queue.each(func(e qent) { collect(e.live()) })
	slices.SortFunc(rest, func(x, y *core) int { return x.id - y.id })
	// Everything is unmapped next: what the flows give back need not be
	// kept for reuse, which would grow the free lists at the moment the
	// report holds the most.
	a.mem.closing = true
	for _, f := range rest {
		a.finish(f)
	}
	a.mem.closing = false
	a.unmap()
}
