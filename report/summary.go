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
// stream through, without keeping the flows.
type summary struct {
	flows    int64 // every flow seen
	selected int64 // flows that passed the filter
	shown    int64 // text: flows printed
	classes  map[analyzer.Class]int64
	flags    map[string]int64
	lastAt   int64 // latest Flow.LastAt seen: capture time has reached it

	// TIME_WAIT candidates: sides whose TIME_WAIT had not expired by lastAt.
	// Entries that expire are pruned as capture time advances.
	tw        []twEntry
	pruneAt   int
	stuck     []stuckEntry
	end       int64 // capture end, set by finish
	twAtEnd   []twEntry
	segments  int64
	peakOpen  int
	finished  bool
	numInputs int
}

type twEntry struct {
	flow  int
	side  analyzer.Side
	host  reassembly.AddrPort
	until int64
}

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
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 && u > s.lastAt {
			s.tw = append(s.tw, twEntry{flow: f.ID, side: side, host: endpoint(f, side), until: u})
		}
	}
	if len(s.tw) > 2*s.pruneAt+1024 {
		s.tw = slices.DeleteFunc(s.tw, func(e twEntry) bool { return e.until <= s.lastAt })
		s.pruneAt = len(s.tw)
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		s.stuck = append(s.stuck, stuckEntry{
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
	for _, e := range s.tw {
		if e.until > s.end {
			s.twAtEnd = append(s.twAtEnd, e)
		}
	}
	s.tw = nil
	slices.SortFunc(s.twAtEnd, func(a, b twEntry) int {
		if c := compareAddrPort(a.host, b.host); c != 0 {
			return c
		}
		return cmp.Compare(a.flow, b.flow)
	})
	slices.SortFunc(s.stuck, func(a, b stuckEntry) int { return cmp.Compare(a.flow, b.flow) })
}

func endpoint(f *analyzer.Flow, side analyzer.Side) reassembly.AddrPort {
	if side == analyzer.Client {
		return f.Client
	}
	return f.Server
}

// compareAddrPort orders endpoints as reassembly.AddrPort.Less does: by
// address bytes, then port.
func compareAddrPort(a, b reassembly.AddrPort) int {
	return cmp.Or(bytes.Compare(a.Addr[:], b.Addr[:]), cmp.Compare(a.Port, b.Port))
}
