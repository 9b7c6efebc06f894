package report

import (
	"bytes"
	"cmp"
	"slices"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// summary accumulates what the end-of-report summary needs while flows
// stream through, without keeping the flows. Of the sockets in TIME_WAIT
// and the flows stuck half-closed at the end of the capture, it keeps what
// the format lists: every one for json and ndjson, what the text lists
// and the counts for text, nothing for markdown and html.
type summary struct {
	flows    int64 // every flow seen
	selected int64 // flows that passed the filter
	shown    int64 // text: flows printed
	classes  map[analyzer.Class]int64
	flags    map[string]int64
	lastAt   int64 // latest Flow.LastAt seen: capture time has reached it
	list     listing

	// The sides whose TIME_WAIT outlasts lastAt, per host address: the
	// capture end is later still, so they may be in TIME_WAIT then. They
	// are pruned as lastAt advances.
	tw     map[reassembly.Addr]*twEnd
	twLast *twEnd // the host of the last side added
	twHeld int    // sides held in tw
	twKept int    // twHeld after the last prune

	stuck  []stuckEntry // listAll: every stuck flow; listFirst: the maxStuck with the smallest ids
	stuckN int64        // stuck flows

	end       int64    // capture end, set by finish
	twAtEnd   []*twEnd // set by finish: the hosts with a side in TIME_WAIT at end, by address
	twSockets int64    // set by finish: the sides in TIME_WAIT at end
	segments  int64
	peakOpen  int
	finished  bool
	numInputs int
}

// listing is what a format lists of the sockets in TIME_WAIT and the
// stuck flows at the end of the capture.
type listing uint8

const (
	listNone  listing = iota // markdown, html: nothing
	listFirst                // text: counts, and the first few per host
	listAll                  // json, ndjson: every one
)

// twEnd is a host address's sides that may be in TIME_WAIT at the end of
// the capture. The text needs the count, the latest until and the first
// maxTWSocketsHost sides by port and flow of those whose TIME_WAIT
// outlasts the end, which is only known at finish: so it keeps the until
// of every side, and only the sides that can be among the first whatever
// the end.
type twEnd struct {
	addr   reassembly.Addr
	untils []int64  // listFirst: every side's until
	sides  []twSide // listAll: every side; listFirst: see firstSides
	kept   int      // len(sides) after the last firstSides
	n      int64    // set by finish: sides in TIME_WAIT at the end
	last   int64    // set by finish: the latest until of those
}

// twSide is a side in TIME_WAIT until until.
type twSide struct {
	until int64
	key   uint64 // the port, then the flow id: see sideKey
	side  analyzer.Side
}

// sideKey orders sides by port, then flow; flow ids stay below 2^48.
func sideKey(port uint16, flow int) uint64 { return uint64(port)<<48 | uint64(flow)&(1<<48-1) }

func (x twSide) port() uint16 { return uint16(x.key >> 48) }
func (x twSide) flow() int    { return int(x.key & (1<<48 - 1)) }

type stuckEntry struct {
	flow      int
	side      analyzer.Side
	host      reassembly.AddrPort
	peer      reassembly.AddrPort
	state     analyzer.State
	peerState analyzer.State
	dur       int64
}

func (s *summary) add(f *analyzer.Flow) {
	if s.classes == nil {
		s.classes = make(map[analyzer.Class]int64)
		s.flags = make(map[string]int64)
	}
	s.flows++
	s.classes[f.Class]++
	for i, n := range flagNames {
		if uint16(f.Flags)&(1<<i) != 0 {
			s.flags[n]++
		}
	}
	s.lastAt = max(s.lastAt, f.LastAt)
	if s.list != listNone {
		for side := analyzer.Client; side <= analyzer.Server; side++ {
			if u := f.TimeWaitUntil[side]; u != 0 && u > s.lastAt {
				h := endpoint(f, side)
				s.addTW(h.Addr, twSide{until: u, key: sideKey(h.Port, f.ID), side: side})
			}
		}
		if s.twHeld > 2*s.twKept+1024 {
			s.pruneTW()
		}
	}
	if f.StuckFor > 0 {
		s.stuckN++
		side := f.StuckSide & 1
		s.addStuck(stuckEntry{
			flow:      f.ID,
			side:      side,
			host:      endpoint(f, side),
			peer:      endpoint(f, side.Other()),
			state:     f.FinalState[side],
			peerState: f.FinalState[side.Other()],
			dur:       f.StuckFor,
		})
	}
}

func (s *summary) addTW(addr reassembly.Addr, x twSide) {
	e := s.twLast
	if e == nil || e.addr != addr {
		e = s.tw[addr]
		if e == nil {
			if s.tw == nil {
				s.tw = make(map[reassembly.Addr]*twEnd)
			}
			e = &twEnd{addr: addr}
			s.tw[addr] = e
		}
		s.twLast = e
	}
	e.sides = append(e.sides, x)
	if s.list == listFirst {
		e.untils = append(e.untils, x.until)
		if len(e.sides) > 2*e.kept+4*maxTWSocketsHost {
			e.firstSides()
		}
	}
	s.twHeld++
}

// pruneTW drops the sides whose TIME_WAIT has passed by lastAt.
func (s *summary) pruneTW() {
	passed := func(u int64) bool { return u <= s.lastAt }
	s.twHeld = 0
	for a, e := range s.tw {
		e.sides = shrink(slices.DeleteFunc(e.sides, func(x twSide) bool { return passed(x.until) }))
		n := len(e.sides)
		if s.list == listFirst {
			e.untils = shrink(slices.DeleteFunc(e.untils, passed))
			e.firstSides()
			n = len(e.untils)
		}
		if n == 0 {
			delete(s.tw, a)
			if s.twLast == e {
				s.twLast = nil
			}
		}
		s.twHeld += n
	}
	s.twKept = s.twHeld
}

// firstSides sorts the sides by port and flow and drops those that cannot
// be among the first maxTWSocketsHost of the ones whose TIME_WAIT outlasts
// any time: a side with maxTWSocketsHost sides before it whose TIME_WAIT
// lasts as long or longer is never listed.
func (e *twEnd) firstSides() {
	slices.SortFunc(e.sides, compareSides)
	var top [maxTWSocketsHost]int64 // the longest untils kept so far, ascending
	n := 0
	out := e.sides[:0]
	for _, x := range e.sides {
		if n == len(top) && top[0] >= x.until {
			continue
		}
		out = append(out, x)
		i := 0 // a free slot, or the shortest, which x outlasts
		if n < len(top) {
			i = n
			n++
		}
		top[i] = x.until
		for ; i > 0 && top[i-1] > top[i]; i-- {
			top[i-1], top[i] = top[i], top[i-1]
		}
		for ; i+1 < n && top[i] > top[i+1]; i++ {
			top[i], top[i+1] = top[i+1], top[i]
		}
	}
	clear(e.sides[len(out):])
	e.sides = out
	e.kept = len(out)
}

func compareSides(a, b twSide) int { return cmp.Compare(a.key, b.key) }

func (s *summary) addStuck(e stuckEntry) {
	switch s.list {
	case listAll:
		s.stuck = append(s.stuck, e)
	case listFirst:
		i, _ := slices.BinarySearchFunc(s.stuck, e.flow, func(x stuckEntry, id int) int { return cmp.Compare(x.flow, id) })
		if i < maxStuck {
			s.stuck = slices.Insert(s.stuck, i, e)
			s.stuck = s.stuck[:min(len(s.stuck), maxStuck)]
		}
	}
}

// finish fixes the capture end (the latest timestamp of any input or flow)
// and keeps the TIME_WAIT sides that outlast it.
func (s *summary) finish(inputs []capture.Input, stats analyzer.Stats) {
	s.finished = true
	s.numInputs = len(inputs)
	s.end = s.lastAt
	for _, in := range inputs {
		s.end = max(s.end, in.LastAt)
	}
	s.segments = stats.Segments
	s.peakOpen = stats.PeakOpen
	ended := func(x twSide) bool { return x.until <= s.end }
	for _, e := range s.tw {
		e.sides = slices.DeleteFunc(e.sides, ended)
		slices.SortFunc(e.sides, compareSides)
		for _, x := range e.sides {
			e.n++
			e.last = max(e.last, x.until)
		}
		if s.list == listFirst {
			// The sides kept are the first ones listed, not all.
			e.n, e.last = 0, 0
			for _, u := range e.untils {
				if u > s.end {
					e.n++
					e.last = max(e.last, u)
				}
			}
			e.untils = nil
			e.sides = e.sides[:min(len(e.sides), maxTWSocketsHost)]
		}
		if e.n > 0 {
			s.twAtEnd = append(s.twAtEnd, e)
			s.twSockets += e.n
		}
	}
	s.tw, s.twLast = nil, nil
	slices.SortFunc(s.twAtEnd, func(a, b *twEnd) int { return bytes.Compare(a.addr[:], b.addr[:]) })
	slices.SortFunc(s.stuck, func(a, b stuckEntry) int { return cmp.Compare(a.flow, b.flow) })
}

func endpoint(f *analyzer.Flow, side analyzer.Side) reassembly.AddrPort {
	if side == analyzer.Client {
		return f.Client
	}
	return f.Server
}
