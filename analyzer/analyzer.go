package analyzer

import (
	"time"

	"teardown/reassembly"
)

// Config tunes the analysis.
type Config struct {
	// TimeWait is how long the active closer stays in TIME_WAIT (Linux:
	// TCP_TIMEWAIT_LEN, 60 s). Zero means 60 s.
	TimeWait time.Duration
}

// Stats counts what the analyzer saw.
type Stats struct {
	Segments  int64
	Flows     int64
	OpenFlows int // flows not yet emitted
	PeakOpen  int // highest OpenFlows seen
}

// Analyzer follows every TCP flow incarnation in a stream of segments, in
// capture-time order, and emits each flow once its verdict is final: when
// it is closed and its TIME_WAIT has passed in capture time, or at Close.
// It is not safe for concurrent use.
type Analyzer struct {
	cfg  Config
	emit func(*Flow)
}

// New returns an Analyzer that passes each finished flow to emit. The Flow
// belongs to the callee.
func New(cfg Config, emit func(*Flow)) *Analyzer {
	if cfg.TimeWait == 0 {
		cfg.TimeWait = 60 * time.Second
	}
	return &Analyzer{cfg: cfg, emit: emit}
}

// Add feeds one segment. Segments must come in capture order.
func (a *Analyzer) Add(s *reassembly.Segment) {
	// Implemented in track.go.
	_ = s
}

// Close finishes every flow still open with the verdict the evidence
// supports (open, close-wait, fin-wait, ...) and emits it.
func (a *Analyzer) Close() {}

// Stats returns the counters so far.
func (a *Analyzer) Stats() Stats { return Stats{} }
