package report

import (
	"fmt"

	"teardown/capture"
)

// jsonKernel is the kernel's counters of a live capture, in the json and
// ndjson inputs.
type jsonKernel struct {
	Received uint64 `json:"received"` // frames the capture filter kept
	Drops    uint64 `json:"drops"`    // frames dropped because the ring was full
	Freezes  uint64 `json:"queue_freezes"`
}

func jsonKernelStats(s *capture.LiveStats) *jsonKernel {
	if s == nil {
		return nil
	}
	return &jsonKernel{Received: s.Received, Drops: s.Drops, Freezes: s.Freezes}
}

// kernelLine is the text summary's line about a live capture's kernel
// counters.
func kernelLine(s *capture.LiveStats) string {
	line := fmt.Sprintf("    kernel: %d received by the filter, %d dropped", s.Received, s.Drops)
	if s.Freezes > 0 {
		line += fmt.Sprintf(", %d queue freezes", s.Freezes)
	}
	if s.Drops > 0 {
		line += " (verdicts of flows active meanwhile say so)"
	}
	return line + "\n"
}
