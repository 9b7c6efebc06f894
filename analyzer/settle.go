package analyzer

import (
	"fmt"
	"math"
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
	a := f.a
	out := &a.scratch
	f.resultInto(out)
	a.dropDetail(f.core)
	f.d = nil
	switch {
	case f.st[Client] != StateTimeWait && f.st[Server] != StateTimeWait:
		res := out
		if !a.cfg.Reuse {
			res = new(Flow)
			*res = *out
		}
		a.emitResult(f.core, res)
	case out.Verdict == "" && out.Events == nil && out.Decisive == nil && out.VantageWhy == "" &&
		out.Reset == nil && out.LateDuplicate == nil && out.StuckFor == 0:
		// Nothing beyond the core and the summary: keep only those until
		// the TIME_WAIT has passed, and rebuild the Flow then.
		f.sum = summary{class: out.Class, closer: out.ActiveCloser, vantage: out.Vantage}
		f.flags = out.Flags
		f.set(cbHasSum, true)
	default:
		a.setPacked(f.core, out)
	}
	*out = Flow{}
}

// summary is the verdict of a settled flow whose Flow holds nothing that
// the core cannot give again: a flow nobody will print in full. Its flags
// are the core's, set to the verdict's when it settles.
type summary struct {
	class   Class
	closer  Closer
	vantage Vantage
}

// rebuild makes the Flow of a settled flow from its core and summary.
func (f *flow) rebuild() *Flow {
	out := f.a.reuse().flowOf()
	f.coreInto(out)
	out.Class, out.ActiveCloser, out.Vantage = f.sum.class, f.sum.closer, f.sum.vantage
	return out
}

// setFlag sets a flag on f, also on its verdict if it is settled.
func (a *Analyzer) setFlag(f *core, fl Flag) {
	if f.pki == 0 {
		f.setFlagOn(fl, nil)
		return
	}
	r := a.packed(f)
	f.setFlagOn(fl, r)
	a.setPacked(f, r)
}

// setFlagOn sets a flag on the flow (and so its summary) and r, the unpacked full
// verdict of a settled flow (nil when there is none).
func (f *core) setFlagOn(fl Flag, r *Flow) {
	f.flags.Set(fl)
	if r != nil {
		r.Flags.Set(fl)
	}
}

// addSettled handles a segment that reaches a settled flow: the class
// stays, the segment is counted, and what matters is added to the verdict:
// an RST that ends a TIME_WAIT early (RFC 1337), a FIN sent again after
// the close, and the re-ACK that restarts the TIME_WAIT timer.
func (f *flow) addSettled(s *reassembly.Segment, src reassembly.AddrPort) {
	from := f.sideOf(src)
	to := from.Other()
	var r *Flow // the verdict in full, when it is kept packed
	if f.pki != 0 {
		r = f.a.packed(f.core)
		defer f.a.setPacked(f.core, r)
	}
	if f.isCopy(s, from) {
		if f.copies < math.MaxInt32 { // saturates; no real capture gets there
			f.copies++
		}
		return
	}
	hs, hr := &f.h[from], &f.h[to]
	quiet := s.At - f.lastAt
	f.touch(s)
	kind := hs.Sent(s, hr.Win, hr.Started)
	fn := f.a.cfg.FrameName
	ref := FrameRef{File: s.File, Frame: s.Frame}
	switch {
	case s.Flags&reassembly.FlagRST != 0:
		if f.st[to] == StateTimeWait {
			f.setFlagOn(FlagRSTInTimeWait, r)
			amend(r, "an RST from the %s (frame %s) ended the %s's TIME_WAIT early", from, fn(ref), to)
		}
		f.st[from], f.st[to] = StateClosed, StateClosed
	case kind&reassembly.KindFINRetransmit != 0:
		f.setFlagOn(FlagFINRetransmit, r)
		amend(r, "the %s sent its FIN again (frame %s) after %s of silence", from, fn(ref), dur(quiet))
	case s.Flags&reassembly.FlagACK != 0 && f.st[from] == StateTimeWait && hr.AckedFIN(s.Ack):
		// RFC 9293 §3.10.7.4: the re-ACK of a retransmitted FIN restarts
		// the 2 MSL timer.
		f.twStart[from] = s.At
	}
}

// amend adds a clause to a settled flow's verdict r (when it has one).
func amend(r *Flow, format string, args ...any) {
	if r == nil || r.Verdict == "" {
		return
	}
	r.Verdict = strings.TrimSuffix(r.Verdict, ".") + "; " + fmt.Sprintf(format, args...) + "."
}
