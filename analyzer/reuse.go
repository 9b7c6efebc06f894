package analyzer

import "slices"

// outBuf is what the Flows the analyzer emits are made in under
// Config.Reuse: one Flow with its timeline, decisive frames, reset and
// late-duplicate explanations, reused for every flow. A nil *outBuf makes
// each afresh, which is what emit gets without Config.Reuse.
type outBuf struct {
	flow  Flow
	ev    []Event
	dec   map[string]FrameRef
	rst   ResetInfo
	ld    LateDupInfo
	ansFr FrameRef
}

// reuse returns the analyzer's outBuf under Config.Reuse, else nil.
func (a *Analyzer) reuse() *outBuf {
	if a.cfg.Reuse {
		return &a.out
	}
	return nil
}

// flowOf returns a zero Flow.
func (o *outBuf) flowOf() *Flow {
	if o == nil {
		return new(Flow)
	}
	o.flow = Flow{}
	return &o.flow
}

// events returns an empty timeline with room for n events.
func (o *outBuf) events(n int) []Event {
	if o == nil {
		return make([]Event, 0, n)
	}
	o.ev = slices.Grow(o.ev[:0], n)
	return o.ev
}

// decisive returns an empty map of decisive frames.
func (o *outBuf) decisive(n int) map[string]FrameRef {
	if o == nil {
		return make(map[string]FrameRef, n)
	}
	if o.dec == nil {
		o.dec = make(map[string]FrameRef, 16)
	}
	clear(o.dec)
	return o.dec
}

// reset returns a zero ResetInfo.
func (o *outBuf) reset() *ResetInfo {
	if o == nil {
		return new(ResetInfo)
	}
	o.rst = ResetInfo{}
	return &o.rst
}

// lateDup returns a zero LateDupInfo.
func (o *outBuf) lateDup() *LateDupInfo {
	if o == nil {
		return new(LateDupInfo)
	}
	o.ld = LateDupInfo{}
	return &o.ld
}

// answerFrame returns a FrameRef for LateDupInfo.AnswerFrame.
func (o *outBuf) answerFrame() *FrameRef {
	if o == nil {
		return new(FrameRef)
	}
	o.ansFr = FrameRef{}
	return &o.ansFr
}
