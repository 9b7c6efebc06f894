package report

import (
	"strconv"

	"teardown/analyzer"
	"teardown/reassembly"
)

// Evidence collects, while flows stream through, what is needed to pick
// their packets out of the inputs again: the 5-tuple, the first and last
// frame, the time span and the verdict. The analyzer keeps no packets, so
// writing the evidence takes a second pass over the input files (see
// cmd/teardown --write-pcap). The zero value is ready to use.
type Evidence struct {
	byKey map[reassembly.Key][]evidenceFlow
	n     int
}

type evidenceFlow struct {
	id              int
	first, last     analyzer.FrameRef
	firstAt, lastAt int64
	comment         string
}

// Add records f.
func (e *Evidence) Add(f *analyzer.Flow) {
	if e.byKey == nil {
		e.byKey = make(map[reassembly.Key][]evidenceFlow)
	}
	k := reassembly.Key{Lo: f.Client, Hi: f.Server}
	if f.Server.Less(f.Client) {
		k = reassembly.Key{Lo: f.Server, Hi: f.Client}
	}
	e.byKey[k] = append(e.byKey[k], evidenceFlow{
		id: f.ID, first: f.First, last: f.Last, firstAt: f.FirstAt, lastAt: f.LastAt,
		comment: EvidenceComment(f),
	})
	e.n++
}

// Len returns the number of flows recorded.
func (e *Evidence) Len() int { return e.n }

// EvidenceComment is the packet comment put on a flow's first packet:
// "teardown flow 3 (rst-abort, community id 1:...; frame numbers are the
// original capture's): VERDICT".
func EvidenceComment(f *analyzer.Flow) string {
	s := "teardown flow " + strconv.Itoa(f.ID) + " (" + f.Class.String() + ", community id " + flowCommunityID(f) +
		"; frame numbers are the original capture's)"
	if f.Verdict != "" {
		s += ": " + Sanitize(f.Verdict)
	}
	return s
}

// Match reports whether frame number frame of input file, captured at at
// (Unix ns) with 5-tuple k, belongs to a recorded flow, and returns the
// comment to attach when it is that flow's first frame. In the flow's
// first and last input, frames are selected by number (First..Last); in
// inputs between them, by time.
func (e *Evidence) Match(file int, frame, at int64, k reassembly.Key) (comment string, ok bool) {
	for _, f := range e.byKey[k] {
		if !f.covers(file, frame, at) {
			continue
		}
		if file == f.first.File && frame == f.first.Frame {
			return f.comment, true
		}
		return "", true
	}
	return "", false
}

func (f *evidenceFlow) covers(file int, frame, at int64) bool {
	if f.first.Frame <= 0 || f.last.Frame <= 0 {
		return at >= f.firstAt && at <= f.lastAt
	}
	switch {
	case file == f.first.File && file == f.last.File:
		return frame >= f.first.Frame && frame <= f.last.Frame
	case file == f.first.File:
		return frame >= f.first.Frame
	case file == f.last.File:
		return frame <= f.last.Frame
	}
	return at >= f.firstAt && at <= f.lastAt
}
