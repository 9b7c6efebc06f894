package analyzer

import (
	"fmt"
	"strings"

	"teardown/reassembly"
)

// settle computes the verdict of a closed flow that has been quiet for
// settleWindow and recycles its evidence and timeline. The flow stays in
// its tuple until its TIME_WAIT has passed, so that a reuse of the tuple,
// a late duplicate or a late segment can still be seen, but it costs only
// its core and its result.
//
// A flow that no side holds in TIME_WAIT (closed by RST, refused) has
// nothing left to wait for: its verdict is emitted now, and only its core
// stays in the tuple until the TIME_WAIT length has passed, to number a
// later incarnation of the tuple.
func (f *flow) settle() {
	f.res = f.result()
	f.a.freeD = append(f.a.freeD, f.d)
	f.d = nil
	if f.st[Client] != StateTimeWait && f.st[Server] != StateTimeWait {
		f.a.emitNow(f)
	}
}

// setFlag sets a flag, also on the verdict of a settled flow.
func (f *flow) setFlag(fl Flag) {
	f.flags.Set(fl)
	if f.res != nil {
		f.res.Flags.Set(fl)
	}
}

// addSettled handles a segment that reaches a settled flow: the class
// stays, the segment is counted, and what matters is added to the verdict:
// an RST that ends a TIME_WAIT early (RFC 1337), a FIN sent again after
// the close, and the re-ACK that restarts the TIME_WAIT timer.
func (f *flow) addSettled(s *reassembly.Segment, src reassembly.AddrPort) {
	from := f.sideOf(src)
	to := from.Other()
	if f.isCopy(s, from) {
		f.copies++
		f.res.CaptureCopies++
		return
	}
	hs, hr := &f.h[from], &f.h[to]
	quiet := s.At - f.lastAt
	f.touch(s)
	kind := hs.Sent(s, hr.Win, hr.Started)
	r := f.res
	r.Last, r.LastAt = f.last, f.lastAt
	r.Packets[from]++
	fn := f.a.cfg.FrameName
	ref := FrameRef{File: s.File, Frame: s.Frame}
	switch {
	case s.Flags&reassembly.FlagRST != 0:
		if f.st[to] == StateTimeWait {
			f.setFlag(FlagRSTInTimeWait)
			r.TimeWaitUntil[to] = 0
			f.amend("an RST from the %s (frame %s) ended the %s's TIME_WAIT early", from, fn(ref), to)
		}
		f.st[from], f.st[to] = StateClosed, StateClosed
		r.FinalState = f.st
	case kind&reassembly.KindFINRetransmit != 0:
		f.setFlag(FlagFINRetransmit)
		f.amend("the %s sent its FIN again (frame %s) after %s of silence", from, fn(ref), dur(quiet))
	case s.Flags&reassembly.FlagACK != 0 && f.st[from] == StateTimeWait && hr.AckedFIN(s.Ack):
		// RFC 9293 §3.10.7.4: the re-ACK of a retransmitted FIN restarts
		// the 2 MSL timer.
		f.twStart[from] = s.At
		r.TimeWaitUntil[from] = s.At + int64(f.a.cfg.TimeWait)
	}
}

// amend adds a clause to a settled flow's verdict (when it has one).
func (f *flow) amend(format string, args ...any) {
	if f.res.Verdict == "" {
		return
	}
	f.res.Verdict = strings.TrimSuffix(f.res.Verdict, ".") + "; " + fmt.Sprintf(format, args...) + "."
}
