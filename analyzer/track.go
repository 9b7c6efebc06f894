package analyzer

import (
	"math"
	"teardown/reassembly"
)

// note is a bit set of annotations on one timeline event.
type note uint16

const (
	noteRetransmission note = 1 << iota
	noteFINRetransmit
	noteOldSegment     // a segment of an earlier incarnation
	noteAnswerOld      // the receiver's answer to an old segment
	noteReACK          // re-ACK of a retransmitted FIN from TIME_WAIT (timer restarted)
	noteZeroWindow     // advertises a zero window
	noteKeepAlive      // keepalive probe
	noteWindowProbe    // zero-window probe
	noteGap            // starts beyond data seen: the capture missed data
	noteAcksUnseen     // acknowledges data the capture never saw
	noteAcksUnseenFIN  // acknowledges a FIN the capture never saw
	noteDSACK          // carries a D-SACK block
	noteRSTIgnored     // RST outside the receiver's window
	noteDataAfterClose // data sent to a side that had already closed
	noteOldTS          // TSval older than this side's earlier ones
	noteRSTTimeWait    // an RST reaching a side in TIME_WAIT
)

var noteText = [...]string{
	"retransmission",
	"FIN retransmission",
	"old incarnation",
	"answer to old segment",
	"re-ACK from TIME_WAIT, timer restarted",
	"zero window",
	"keepalive",
	"zero-window probe",
	"previous segment not captured",
	"ACKs data not captured",
	"ACKs a FIN not captured",
	"D-SACK",
	"RST outside window",
	"data after peer closed",
	"TSval went backwards",
	"RST into TIME_WAIT",
}

// strings returns the annotations as text, in a stable order.
func (n note) strings() []string {
	var out []string
	for i, t := range noteText {
		if n&(1<<i) != 0 {
			out = append(out, t)
		}
	}
	return out
}

// noteStrings returns n.strings(), made once per analyzer for each set of
// annotations: the slice is shared, its capacity its length, so that an
// append to it copies.
func (a *Analyzer) noteStrings(n note) []string {
	if n == 0 {
		return nil
	}
	s, ok := a.noteStr[n]
	if !ok {
		if a.noteStr == nil {
			a.noteStr = make(map[note][]string)
		}
		s = n.strings()
		s = s[:len(s):len(s)]
		a.noteStr[n] = s
	}
	return s
}

// rec is the compact form of a timeline event kept while a flow is open.
type rec struct {
	at       int64
	frame    int64
	file     int32
	idx      int64 // ordinal of the segment in the flow
	seq, ack reassembly.Seq
	len      uint32
	win      uint32
	tsval    uint32
	tsecr    uint32
	flags    reassembly.Flags
	hasTS    bool
	from     Side
	notes    note
	cs, ss   State
}

func (r *rec) ref() FrameRef { return FrameRef{File: int(r.file), Frame: r.frame} }

// segRef is a segment kept as evidence, packed small: a flow keeps
// about twenty of them.
type segRef struct {
	at     int64
	frame  int64
	file   int32
	tsval  uint32
	tsecr  uint32
	ack    reassembly.Seq
	len    uint32
	ok     bool
	hasTS  bool
	hasAck bool
}

func (r *segRef) ref() FrameRef { return FrameRef{File: int(r.file), Frame: r.frame} }

func mkRef(s *reassembly.Segment) segRef {
	return segRef{ok: true, at: s.At, frame: s.Frame, file: int32(s.File),
		tsval: s.TSval, tsecr: s.TSecr, hasTS: s.HasTS,
		ack: s.Ack, hasAck: s.Flags&reassembly.FlagACK != 0, len: s.Len}
}

const (
	maxEvents = 48 // timeline events kept in full
	tailLen   = 12 // further events kept in a ring
)

// flow is the analyzer's working view of one incarnation: its core, with
// the core's detail, and the analyzer. It is made afresh for each
// segment (Analyzer.view) and not kept.
type flow struct {
	*core
	a *Analyzer
	d *detail // nil once the flow is settled
}

// core is what the analyzer keeps of one incarnation until its TIME_WAIT
// has passed; there are as many as open flows. It lives outside the Go heap
// (see offheap.go), so it holds no pointer into it: its detail is off the
// heap too, and its packed verdict, a string, is named by index.
type core struct {
	t  *tuple
	id int

	h [2]reassembly.Half

	// The first and last segments: frame numbers, capture times, inputs.
	firstFrame, lastFrame int64
	firstAt, lastAt       int64
	twStart               [2]int64

	// det is the detail: the evidence and the timeline. A closed flow
	// that has been quiet for its settle window is settled: its verdict is
	// computed into sum or the packed verdict pki names, and its detail is
	// recycled, so that the flows waiting out TIME_WAIT stay small; later
	// segments only amend the verdict (see addSettled).
	det *detail // outside the Go heap too; nil once settled

	firstFile, lastFile int32
	inc                 int32 // incarnation of the tuple: 1, 2, ...
	// Capture copies (the same segment captured twice: tcpdump -i any on
	// a bridge and its port, or a mirror) are counted and skipped (see
	// isCopy).
	copies int32
	pki    uint32 // the full verdict of a settled flow, packed (see packFlow), in Analyzer.pks

	flags Flags // once settled with a summary (cbHasSum), the verdict's flags
	st    [2]State
	sum   summary // the verdict when nothing beyond it and the core is wanted (cbHasSum)

	firstClose Side    // side of the first FIN or RST
	bits       coreBit // what is true of the flow (cbClosing, ...)
	qrefs      uint8   // queue entries that point at it: one in the TIME_WAIT queue, one in a settle queue
}

// coreBit is one yes-or-no fact about a flow, kept in core.bits.
type coreBit uint16

const (
	cbClientHi     coreBit = 1 << iota // the client is the tuple key's Hi end (see client)
	cbDirGuessed                       // client and server guessed from the ports
	cbClosing                          // a FIN or RST has been seen
	cbRefused                          // the SYN was answered with an RST
	cbClosed                           // both sides closed, or an RST ended the flow
	cbHasSum                           // settled with its verdict in sum and flags
	cbQueued                           // put in the TIME_WAIT queue (once: expire moves it back)
	cbEmitted                          // its verdict is out
	cbAtEnd                            // finished at the end of the capture or early (Close, Expire, Evict)
	cbSettleQueued                     // in a settle queue
	cbReleased                         // emitted and out of its tuple: recycled once qrefs is 0
)

// has reports whether b is set.
func (f *core) has(b coreBit) bool { return f.bits&b != 0 }

// set sets b to on.
func (f *core) set(b coreBit, on bool) {
	if on {
		f.bits |= b
	} else {
		f.bits &^= b
	}
}

// first returns the flow's first frame.
func (f *core) first() FrameRef { return FrameRef{File: int(f.firstFile), Frame: f.firstFrame} }

// last returns the flow's last frame.
func (f *core) last() FrameRef { return FrameRef{File: int(f.lastFile), Frame: f.lastFrame} }

// detail is the part of a flow needed to explain it: the evidence behind
// the verdict and the timeline.
type detail struct {
	detailHead
	ev      [evInline]rec // the first events of the timeline; ev[nev:] are garbage
	preData [2]rec        // last data segment of each side before the close, not yet in ev; valid with hasPre
}

// detailHead is the part of a detail that a fresh one must have zeroed:
// all but the event records, which are read only as far as they are
// written (see newDetail).
type detailHead struct {
	fps fpRing // the latest segments of each side, to tell capture copies (see isCopy)

	// Handshake, for vantage and refused.
	syn, synAck, hsAck segRef
	ttl                [2]uint8 // of each side's first segment
	ttlSeen            [2]bool
	pktType            [2]uint8 // link-layer direction of each side's first segment

	// Close evidence, per side.
	fin       [2]segRef // first transmission of the side's FIN
	finAck    [2]segRef // the peer's first ACK covering it
	lastData  [2]segRef
	unseenFIN [2]bool // the side's FIN was inferred from the peer's ACK

	rst        segRef
	rstBy      Side
	rstFrom    State // sender's state when it sent the RST
	rstTo      State // receiver's state when the RST arrived
	rstSeqOK   bool
	rstUnacked int32 // bytes the RST's sender had in flight when it reset

	// x is the evidence few flows have, from an arena once some is
	// written (see rareW); nil while there is none.
	x *rareEvidence

	// The timeline: the first events in ev, the next in evMore once ev is
	// full, then the newest in the ring tail (both from the analyzer's
	// arenas, outside the Go heap, like the detail itself).
	evMore *evMore
	nev    int32
	tail   *tailRing
	ntail  int
	hasPre [2]bool

	// n counts the segments seen, the ordinal of the next timeline event
	// (a live capture can see more than 2³¹ on one flow). Once the flow
	// has settled nothing reads it, so it lives here, not in the core.
	n int64
}

// rareEvidence is the part of a detail that most flows never write: FINs
// sent again, data after a FIN, gaps, zero windows, late duplicates and
// reuses. Kept apart, it spares every other flow its 480 bytes, and the
// zeroing of them.
type rareEvidence struct {
	finRetx   [2]segRef // first retransmission of the side's FIN
	ackAfter  [2]segRef // the peer's first ACK covering it after finRetx
	dataAfter [2]segRef // first data the side received after its own FIN
	gap       segRef
	zeroWin   segRef

	// Late duplicates.
	oldSeg       segRef
	oldFrom      Side // sender of the old segment, in this flow's terms
	oldInc       int
	oldFlags     reassembly.Flags
	oldViaDSACK  bool
	answerWait   bool
	answerBy     Side
	answer       segRef
	answerKind   answerKind
	reusedAfter  int64
	reusedFrom   Side
	reusedHolder reassembly.AddrPort
	supersededBy FrameRef
}

// noRare is what rare returns for a detail without rare evidence. It is
// never written: writes go through rareW.
var noRare rareEvidence

// rare returns the detail's rare evidence, for reading.
func (d *detail) rare() *rareEvidence {
	if d.x != nil {
		return d.x
	}
	return &noRare
}

// rareW returns f's rare evidence, for writing, making it on first use.
func (f *flow) rareW() *rareEvidence {
	if f.d.x == nil {
		x := f.a.rares.get()
		*x = rareEvidence{}
		f.d.x = x
	}
	return f.d.x
}

// evMore holds the timeline events beyond the first evInline.
type evMore [maxEvents - evInline]rec

// tailRing holds the newest events once the timeline is full.
type tailRing [tailLen]rec

// answerKind is how the receiver of an old segment answered it.
type answerKind uint8

const (
	answerNone answerKind = iota
	answerRST
	answerDupACK
	answerDSACK
)

var answerText = [...]string{"", "an RST", "a duplicate ACK", "a duplicate ACK with a D-SACK block"}

// evInline is the number of timeline events kept inside the flow: a
// handshake, the last data of each side and a four-way close fit.
const evInline = 10

// fingerprint identifies a captured segment closely enough to tell a
// second capture of the same packet from a retransmission, which Linux
// sends with a new IP ID and, after at least 1 ms, a new TSval: a hash of
// the header fields (never 0, so that 0 is an empty entry) and the capture
// time in units of 1.024 µs (wrapping after 73 minutes, far beyond the
// window).
type fingerprint struct {
	h  uint32
	at uint32
}

// copyWindow is how close in time two identical segments must be to count
// as two captures of one packet: 1 ms, in fingerprint time units.
const copyWindow = int32(1e6 >> fpShift)

// fpShift converts nanoseconds to fingerprint time units.
const fpShift = 10

// copyRing is how many recent segments of a side a copy is looked for
// among: with tcpdump -i any on a bridge the copies of back-to-back
// segments interleave (ACK in, data in, ACK out, data out).
const copyRing = 4

// fpRing holds the fingerprints of the latest segments of each side.
type fpRing struct {
	fp   [2][copyRing]fingerprint
	next [2]uint8
}

// isCopy reports whether s repeats one of the latest segments from side,
// and records s as the latest one otherwise. The ring is the detail's;
// a settled flow, whose ring the detail took with it, gets one from the
// analyzer when a segment reaches it (rare: a late FIN or ACK, an RST).
// The segments in the detail's ring were at least a settle window older
// than any to come, far outside the copy window (unless the capture's
// times go back by more than that, which only merged inputs with clocks
// apart could do).
func (f *flow) isCopy(s *reassembly.Segment, side Side) bool {
	var r *fpRing
	if f.d != nil {
		r = &f.d.fps
	} else {
		r = f.a.lateRing(f.core)
	}
	h := uint64(s.Seq)<<32 | uint64(s.Ack)
	h = h*0x9e3779b97f4a7c15 ^ (uint64(s.TSval)<<32 | uint64(s.Len))
	h = h*0x9e3779b97f4a7c15 ^ (uint64(s.IPID)<<32 | uint64(s.Win)<<8 | uint64(s.Flags))
	h = h*0x9e3779b97f4a7c15 ^ uint64(s.TSecr)
	h32 := uint32(h>>32) | 1
	at := uint32(s.At >> fpShift)
	for _, fp := range r.fp[side] {
		if fp.h == h32 && int32(at-fp.at) <= copyWindow {
			return true
		}
	}
	i := r.next[side] % copyRing
	r.fp[side][i] = fingerprint{h: h32, at: at}
	r.next[side] = i + 1
	return false
}

// sideOf returns the side that ap is in f.
func (f *core) sideOf(ap reassembly.AddrPort) Side {
	if ap == f.client() {
		return Client
	}
	return Server
}

// client returns the client's address: one end of the tuple's key, which
// the core does not repeat.
func (f *core) client() reassembly.AddrPort {
	if f.has(cbClientHi) {
		return f.t.key.Hi
	}
	return f.t.key.Lo
}

// server returns the server's address.
func (f *core) server() reassembly.AddrPort {
	if f.has(cbClientHi) {
		return f.t.key.Lo
	}
	return f.t.key.Hi
}

// endpoint returns the address of a side.
func (f *core) endpoint(s Side) reassembly.AddrPort {
	if s == Client {
		return f.client()
	}
	return f.server()
}

// startsNew reports whether a bare SYN from src opens a new incarnation
// rather than retransmitting this one's SYN.
func (f *core) startsNew(s *reassembly.Segment, src reassembly.AddrPort) bool {
	side := f.sideOf(src)
	h := &f.h[side]
	if side == Client && h.HasISN && s.Seq == h.ISN() && !f.has(cbClosed) && !f.has(cbClosing) {
		return false // a retransmitted SYN
	}
	return true
}

// isOldSegment reports whether s belongs to the earlier incarnation old
// rather than to f: it lies in old's sequence space and outside f's, or its
// timestamp predates f's.
func (f *flow) isOldSegment(old *core, s *reassembly.Segment, src reassembly.AddrPort) bool {
	if src != old.client() && src != old.server() {
		return false
	}
	oh := &old.h[old.sideOf(src)]
	if !oh.Started {
		return false
	}
	end := s.End()
	inOld := !s.Seq.LessThan(oh.Base) && end.LessThanEq(oh.Nxt.Add(1))
	if !inOld {
		return false
	}
	if s.Flags&reassembly.FlagACK != 0 {
		// The acknowledgment names the incarnation too: an old segment
		// acknowledges the old peer's data. An RST|ACK refusing the new
		// SYN has seq 0 like the one that refused the old SYN, but acks
		// the new ISN.
		if ph := &f.h[f.sideOf(src).Other()]; ph.Started && ackFits(ph, s.Ack) {
			return false
		}
		if op := &old.h[old.sideOf(src).Other()]; op.Started && !ackFits(op, s.Ack) {
			return false
		}
	}
	nh := &f.h[f.sideOf(src)]
	if !nh.Started {
		return true
	}
	// Acceptable in the new incarnation: from its ISN to well past its
	// highest segment.
	if !s.Seq.LessThan(nh.Base) && s.Seq.LessThanEq(nh.Nxt.Add(1<<24)) {
		return s.HasTS && nh.HasTS && int32(s.TSval-nh.TSval) < 0 && f.tsFirst(src, s.TSval)
	}
	return true
}

// ackFits reports whether ack acknowledges something in the sequence space
// h has been seen to use: from its first byte to one past its highest.
func ackFits(h *reassembly.Half, ack reassembly.Seq) bool {
	return !ack.LessThan(h.Base.Add(1)) && ack.LessThanEq(h.Nxt.Add(1))
}

// tsFirst reports whether tsval is older than the first timestamp the new
// incarnation saw from src, a sign of an older incarnation (PAWS).
func (f *flow) tsFirst(src reassembly.AddrPort, tsval uint32) bool {
	r := &f.d.syn
	if f.sideOf(src) == Server {
		r = &f.d.synAck
	}
	return r.ok && r.hasTS && int32(tsval-r.tsval) < 0
}

// oldSegment records s, a segment of incarnation old, arriving in f.
func (f *flow) oldSegment(old *core, s *reassembly.Segment, src reassembly.AddrPort) {
	side := f.sideOf(src)
	f.touch(s)
	notes := noteOldSegment
	if !f.d.rare().oldSeg.ok {
		x := f.rareW()
		x.oldSeg, x.oldFrom, x.oldInc, x.oldFlags = mkRef(s), side, int(old.inc), s.Flags
		x.answerWait, x.answerBy = true, side.Other()
	}
	f.a.setFlag(old, FlagOldSegment)
	// The segment is shown with the old incarnation's relative numbers.
	oh := &old.h[old.sideOf(src)]
	r := f.mkRec(s, side, notes)
	r.seq = reassembly.Seq(oh.Rel(s.Seq))
	if s.Flags&reassembly.FlagACK != 0 {
		r.ack = reassembly.Seq(old.h[old.sideOf(src).Other()].Rel(s.Ack))
	}
	f.keep(r, true)
}

// touch updates the flow's first/last bookkeeping and, while it has its
// detail, counts the segment.
func (f *flow) touch(s *reassembly.Segment) {
	if d := f.d; d != nil {
		if d.n == 0 {
			f.firstFrame, f.firstFile, f.firstAt = s.Frame, int32(s.File), s.At
		}
		d.n++
	}
	f.lastFrame, f.lastFile, f.lastAt = s.Frame, int32(s.File), s.At
}

// mkRec builds a timeline record for s, sent by side, with relative
// numbers in f's terms and the states as they are now.
func (f *flow) mkRec(s *reassembly.Segment, side Side, n note) rec {
	hs, hr := &f.h[side], &f.h[side.Other()]
	r := rec{
		at: s.At, frame: s.Frame, file: int32(s.File), idx: f.d.n,
		seq: reassembly.Seq(hs.Rel(s.Seq)), len: s.Len, win: uint32(s.Win),
		tsval: s.TSval, tsecr: s.TSecr, hasTS: s.HasTS, flags: s.Flags, from: side, notes: n,
		cs: f.st[Client], ss: f.st[Server],
	}
	if hs.WScale > 0 && s.Flags&reassembly.FlagSYN == 0 {
		r.win <<= uint(hs.WScale)
	}
	if s.Flags&reassembly.FlagACK != 0 {
		if hr.Started {
			r.ack = reassembly.Seq(hr.Rel(s.Ack))
		} else {
			r.ack = s.Ack
		}
	}
	return r
}

// keep adds r to the timeline. Important events are kept while there is
// room; once the close has begun every event is kept, the newest in a
// ring when the room runs out.
func (f *flow) keep(r rec, important bool) {
	switch {
	case f.d.nev < maxEvents && (important || f.has(cbClosing)):
		d := f.d
		if i := d.nev; i < evInline {
			d.ev[i] = r
		} else {
			if d.evMore == nil {
				d.evMore = f.a.evMores.get()
			}
			d.evMore[i-evInline] = r
		}
		d.nev++
	case f.has(cbClosing) || important:
		if f.d.tail == nil {
			f.d.tail = f.a.tails.get()
		}
		f.d.tail[f.d.ntail%tailLen] = r
		f.d.ntail++
	}
}

// add processes one segment of this incarnation sent from src.
func (f *flow) add(s *reassembly.Segment, src reassembly.AddrPort, a *Analyzer) {
	from := f.sideOf(src)
	to := from.Other()
	hs, hr := &f.h[from], &f.h[to]
	if f.isCopy(s, from) {
		if f.copies < math.MaxInt32 { // saturates; no real capture gets there
			f.copies++
		}
		return
	}
	f.touch(s)
	if !f.d.ttlSeen[from] {
		f.d.ttlSeen[from], f.d.ttl[from] = true, s.TTL
		f.d.pktType[from] = s.PktType
	}
	var n note
	kind := hs.Sent(s, hr.Win, hr.Started)
	important := f.d.n <= 3
	if kind&reassembly.KindRetransmission != 0 && s.Flags&reassembly.FlagFIN == 0 {
		n |= noteRetransmission
	}
	if kind&reassembly.KindGap != 0 {
		n |= noteGap
		f.markGap(s)
	}
	if kind&reassembly.KindKeepAlive != 0 {
		n |= noteKeepAlive
	}
	if kind&reassembly.KindWindowProbe != 0 {
		n |= noteWindowProbe
	}
	if kind&reassembly.KindOldTS != 0 {
		n |= noteOldTS
	}
	if kind&reassembly.KindZeroWindow != 0 && f.st[from] != StateUnknown {
		n |= noteZeroWindow
		if !f.d.rare().zeroWin.ok {
			f.rareW().zeroWin = mkRef(s)
			f.flags.Set(FlagZeroWindow)
			important = true
		}
	}

	// Answer to an old segment: the receiver's next segment.
	if x := f.d.x; x != nil && x.answerWait && from == x.answerBy {
		x.answerWait = false
		if s.At-x.oldSeg.at < int64(1e9) {
			switch {
			case s.Flags&reassembly.FlagRST != 0:
				x.answerKind = answerRST
			case s.Len == 0 && s.Flags&(reassembly.FlagSYN|reassembly.FlagFIN) == 0:
				x.answerKind = answerDupACK
				if s.NSACK > 0 && s.SACK[0].Right.LessThanEq(s.Ack) {
					x.answerKind = answerDSACK
				}
			}
			if x.answerKind != answerNone {
				x.answer = mkRef(s)
				n |= noteAnswerOld
				important = true
			}
		}
	}

	switch {
	case s.Flags&reassembly.FlagRST != 0:
		f.onRST(s, from, &n)
		important = true
	case s.Flags&reassembly.FlagSYN != 0:
		f.onSYN(s, from)
		important = true
	default:
		f.onEstablishing(s, from)
	}

	if s.Flags&reassembly.FlagACK != 0 && s.Flags&reassembly.FlagRST == 0 {
		f.onACK(s, from, &n)
	}
	if s.Len > 0 && s.Flags&reassembly.FlagRST == 0 {
		// Data sent to a side whose FIN was already seen: a half-close
		// when the passive side keeps sending, or data that a closed
		// socket will answer with RST.
		if f.d.fin[to].ok && !f.d.unseenFIN[to] && !f.d.rare().dataAfter[to].ok {
			f.rareW().dataAfter[to] = mkRef(s)
			n |= noteDataAfterClose
			if f.firstClose == to && !f.d.fin[from].ok {
				f.flags.Set(FlagHalfClose)
			}
			important = true
		}
		f.d.lastData[from] = mkRef(s)
	}
	if s.Flags&reassembly.FlagFIN != 0 {
		f.onFIN(s, from, kind, &n)
		important = true
	}
	if s.NSACK > 0 && s.SACK[0].Right.LessThanEq(s.Ack) && s.Flags&reassembly.FlagACK != 0 {
		n |= noteDSACK
		f.checkDSACK(s, from)
		important = true
	}
	if f.d.rst.ok && !f.has(cbClosed) {
		f.set(cbClosed, true)
	}
	if f.h[Client].HasFIN && f.h[Server].HasFIN && f.d.finAck[Client].ok && f.d.finAck[Server].ok {
		f.set(cbClosed, true)
	}

	r := f.mkRec(s, from, n)
	if n&^(noteKeepAlive|noteWindowProbe) != 0 {
		important = true
	}
	if s.Len > 0 && !f.has(cbClosing) && !important {
		f.d.preData[from], f.d.hasPre[from] = r, true
		return
	}
	f.keep(r, important)
}

// markGap records the first sign of missed data.
func (f *flow) markGap(s *reassembly.Segment) {
	if !f.d.rare().gap.ok {
		f.rareW().gap = mkRef(s)
		f.flags.Set(FlagCaptureGap)
	}
}

// setState is the one writer of endpoint states.
func (f *flow) setState(side Side, st State, at int64) {
	if st == StateTimeWait && f.st[side] != StateTimeWait {
		f.twStart[side] = at
	}
	f.st[side] = st
}

// onSYN handles the handshake segments (RFC 9293 §3.5).
func (f *flow) onSYN(s *reassembly.Segment, from Side) {
	if s.Flags&reassembly.FlagACK == 0 {
		if !f.d.syn.ok {
			f.d.syn = mkRef(s)
		}
		f.setState(from, StateSynSent, s.At)
		if f.st[from.Other()] == StateUnknown {
			f.setState(from.Other(), StateListen, s.At)
		}
		return
	}
	if !f.d.synAck.ok {
		f.d.synAck = mkRef(s)
	}
	f.setState(from, StateSynReceived, s.At)
}

// onEstablishing moves the endpoints out of the handshake (or into the
// assumed ESTABLISHED state of a flow caught mid-connection).
func (f *flow) onEstablishing(s *reassembly.Segment, from Side) {
	to := from.Other()
	switch f.st[from] {
	case StateUnknown, StateListen:
		f.setState(from, StateEstablished, s.At)
		f.flags.Set(FlagNoHandshake)
	case StateSynSent:
		// SYN_SENT → ESTABLISHED once the SYN/ACK is acknowledged.
		if s.Flags&reassembly.FlagACK != 0 {
			f.setState(from, StateEstablished, s.At)
			if !f.d.hsAck.ok && f.d.synAck.ok {
				f.d.hsAck = mkRef(s)
			}
		}
	case StateSynReceived:
		f.setState(from, StateEstablished, s.At)
	}
	switch f.st[to] {
	case StateUnknown, StateListen:
		if f.st[from] == StateEstablished && !f.d.syn.ok {
			f.setState(to, StateEstablished, s.At)
		}
	case StateSynReceived:
		// SYN_RECEIVED → ESTABLISHED on the ACK of its SYN.
		if s.Flags&reassembly.FlagACK != 0 {
			f.setState(to, StateEstablished, s.At)
		}
	}
}

// onACK applies what an acknowledgment from `from` says: the peer's FIN
// was received (possibly a FIN the capture missed) and is acknowledged.
func (f *flow) onACK(s *reassembly.Segment, from Side, n *note) {
	to := from.Other()
	hr := &f.h[to]
	if !hr.Started {
		return
	}
	switch {
	case !hr.HasFIN && s.Ack == hr.Nxt.Add(1) && f.st[to] != StateSynSent && f.st[to] != StateSynReceived:
		// The ACK covers one number past everything seen from the peer:
		// a FIN the capture missed (RFC 9293: the FIN occupies one
		// sequence number).
		hr.HasFIN, hr.FIN, hr.FINCount = true, hr.Nxt, 1
		hr.Nxt = hr.Nxt.Add(1)
		f.d.unseenFIN[to] = true
		*n |= noteAcksUnseenFIN
		f.d.fin[to] = segRef{ok: true, at: s.At, frame: s.Frame, file: int32(s.File)}
		f.finSent(to, s.At)
		if f.d.fin[from].ok && !f.d.finAck[from].ok {
			// The missed FIN most likely acknowledged ours too, as Linux's
			// FIN|ACK does; nothing later contradicts it unless our FIN
			// is sent again.
			f.d.finAck[from] = f.d.fin[to]
			if f.st[from] == StateFinWait1 {
				f.setState(from, StateFinWait2, s.At)
			}
		}
		f.finReceived(from, s.At, s.Ack)
	case hr.Nxt.LessThan(s.Ack):
		*n |= noteAcksUnseen
		f.markGap(s)
	}
	if !hr.AckedFIN(s.Ack) {
		return
	}
	if !f.d.finAck[to].ok {
		f.d.finAck[to] = mkRef(s)
	}
	if f.d.rare().finRetx[to].ok && !f.d.rare().ackAfter[to].ok && f.d.rare().finRetx[to].at <= s.At && f.d.rare().finRetx[to].ref() != f.d.finAck[to].ref() {
		f.rareW().ackAfter[to] = mkRef(s)
		if f.st[from] == StateTimeWait {
			// RFC 9293 §3.10.7.4: a retransmitted FIN in TIME-WAIT is
			// acknowledged and the 2 MSL timeout restarted.
			f.twStart[from] = s.At
			if f.d.finAck[to].ref() != f.d.rare().ackAfter[to].ref() {
				*n |= noteReACK
			}
		}
	}
	// The sender of the ACK had received the FIN (seen or not).
	switch f.st[from] {
	case StateEstablished, StateSynReceived:
		f.setState(from, StateCloseWait, s.At)
	case StateFinWait1:
		f.setState(from, StateClosing, s.At)
	case StateFinWait2:
		f.setState(from, StateTimeWait, s.At)
	}
	// The FIN's sender gets the ACK of its FIN.
	switch f.st[to] {
	case StateFinWait1:
		f.setState(to, StateFinWait2, s.At)
	case StateClosing:
		f.setState(to, StateTimeWait, s.At)
	case StateLastAck:
		f.setState(to, StateClosed, s.At)
	}
	if f.st[from] == StateTimeWait && f.d.finAck[to].ref() == (FrameRef{File: s.File, Frame: s.Frame}) {
		f.twStart[from] = s.At
	}
}

// finSent moves the FIN's sender (RFC 9293 §3.6, CLOSE call).
func (f *flow) finSent(side Side, at int64) {
	if !f.has(cbClosing) {
		f.set(cbClosing, true)
		f.firstClose = side
		f.flushPre()
	}
	switch f.st[side] {
	case StateCloseWait:
		f.setState(side, StateLastAck, at)
	case StateFinWait1, StateFinWait2, StateClosing, StateTimeWait, StateLastAck, StateClosed:
	default:
		f.setState(side, StateFinWait1, at)
	}
}

// finReceived moves the FIN's receiver (RFC 9293 §3.10.7.4, eighth step).
func (f *flow) finReceived(side Side, at int64, finAck reassembly.Seq) {
	switch f.st[side] {
	case StateFinWait1:
		if f.h[side].AckedFIN(finAck) {
			f.setState(side, StateTimeWait, at)
		} else {
			f.setState(side, StateClosing, at)
		}
	case StateFinWait2:
		f.setState(side, StateTimeWait, at)
	case StateClosing, StateTimeWait, StateCloseWait, StateLastAck, StateClosed:
	default:
		f.setState(side, StateCloseWait, at)
	}
}

// onFIN handles a FIN from `from`: the first, or a retransmission.
func (f *flow) onFIN(s *reassembly.Segment, from Side, kind reassembly.Kind, n *note) {
	if kind&reassembly.KindFINRetransmit != 0 {
		*n |= noteFINRetransmit
		f.flags.Set(FlagFINRetransmit)
		if !f.d.rare().finRetx[from].ok {
			f.rareW().finRetx[from] = mkRef(s)
		}
		return
	}
	if f.d.fin[from].ok && !f.d.unseenFIN[from] {
		return
	}
	f.d.fin[from] = mkRef(s)
	to := from.Other()
	if f.d.fin[to].ok && !f.h[to].AckedFIN(s.Ack) || s.Flags&reassembly.FlagACK == 0 && f.d.fin[to].ok {
		// The FINs crossed: this one was sent before the peer's FIN
		// arrived, so both ends go FIN-WAIT-1 → CLOSING (RFC 9293 §3.6,
		// simultaneous close).
		f.setState(from, StateClosing, s.At)
		if f.st[to] == StateFinWait1 {
			f.setState(to, StateClosing, s.At)
		}
		return
	}
	f.finSent(from, s.At)
	f.finReceived(to, s.At, s.Ack)
}

// onRST handles a reset from `from`.
func (f *flow) onRST(s *reassembly.Segment, from Side, n *note) {
	to := from.Other()
	if f.d.rst.ok {
		return
	}
	hs := &f.h[from]
	// Linux accepts an RST whose sequence number is exactly RCV.NXT, and
	// answers one elsewhere in the window with a challenge ACK (RFC 5961).
	f.d.rstSeqOK = s.Seq == hs.Nxt || !hs.Started || hs.Packets <= 1
	if f.st[to] == StateSynSent && !f.d.synAck.ok && from == Server {
		f.set(cbRefused, true)
		f.d.rstSeqOK = true
	}
	f.d.rst = mkRef(s)
	f.d.rstBy, f.d.rstFrom, f.d.rstTo = from, f.st[from], f.st[to]
	if hr := &f.h[to]; hr.HasAck && hs.Started {
		if un := hs.Nxt.Diff(hr.Ack); un > 0 {
			f.d.rstUnacked = un
		}
	}
	if f.st[to] == StateTimeWait {
		f.flags.Set(FlagRSTInTimeWait)
		*n |= noteRSTTimeWait
	}
	if !f.has(cbClosing) {
		f.set(cbClosing, true)
		f.firstClose = from
		f.flushPre()
	}
	f.setState(from, StateClosed, s.At)
	if f.d.rstSeqOK || f.st[to] == StateSynSent {
		f.setState(to, StateClosed, s.At)
	} else {
		*n |= noteRSTIgnored
	}
}

// checkDSACK looks at a D-SACK block from `from`: one that lies before the
// peer's ISN in this incarnation but inside the previous incarnation's
// sequence space betrays an old segment that reached `from` unseen.
func (f *flow) checkDSACK(s *reassembly.Segment, from Side) {
	to := from.Other()
	hr := &f.h[to]
	blk := s.SACK[0]
	if !hr.HasISN || !blk.Left.LessThan(hr.Base) || f.d.rare().oldSeg.ok {
		return
	}
	old := f.t.prev
	if old == nil || old == f.core {
		return
	}
	peer := f.endpoint(to)
	if peer != old.client() && peer != old.server() {
		return
	}
	oh := &old.h[old.sideOf(peer)]
	if blk.Left.LessThan(oh.Base) || oh.Nxt.Add(1).LessThan(blk.Right) {
		return
	}
	x := f.rareW()
	x.oldSeg, x.oldFrom, x.oldInc, x.oldViaDSACK = mkRef(s), to, int(old.inc), true
	f.a.setFlag(old, FlagOldSegment)
}

// flushPre moves the last data of each side into the timeline when the
// close begins.
func (f *flow) flushPre() {
	a, b := Client, Server
	if f.d.hasPre[a] && f.d.hasPre[b] && f.d.preData[b].idx < f.d.preData[a].idx {
		a, b = b, a
	}
	for _, s := range []Side{a, b} {
		if f.d.hasPre[s] {
			f.keep(f.d.preData[s], true)
			f.d.hasPre[s] = false
		}
	}
}
