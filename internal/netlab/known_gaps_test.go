//go:build linux

package netlab

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// knownGap is a committed capture where teardown's analyzer disagrees with
// the expectation file, which is derived from the packets.
type knownGap struct {
	why   string
	diffs []string // exactly what CompareVerdicts reports
}

// knownAnalyzerGaps, by capture name (without .expect.json). While the
// analyzer's differences are exactly these, TestCommittedVerdicts skips the
// capture with the reason; when they change (the analyzer was fixed, or
// got something else wrong) it fails: then delete or update the entry.
// Empty: the analyzer agrees with every committed capture.
var knownAnalyzerGaps = map[string]knownGap{}

// matchKnownGap analyzes a capture and returns nil when the analyzer's
// differences from the expectation are exactly the recorded ones.
func matchKnownGap(capturePath string, e *Expectation, gap knownGap) error {
	if Analyze == nil {
		return nil
	}
	got, err := Analyze(capturePath)
	if err != nil {
		return fmt.Errorf("analyzing %s: %w", e.Capture, err)
	}
	if diffs := CompareVerdicts(e, got); !slices.Equal(diffs, gap.diffs) {
		return fmt.Errorf("%s: the analyzer's differences changed: got %q, recorded %q; update knownAnalyzerGaps (delete the entry if they are gone)", e.Capture, diffs, gap.diffs)
	}
	return nil
}

// checkKnownGap skips a committed capture whose analyzer disagreement is
// exactly the recorded one, and fails otherwise.
func checkKnownGap(t *testing.T, expectPath string, e *Expectation, gap knownGap) {
	t.Helper()
	if err := matchKnownGap(filepath.Join(filepath.Dir(expectPath), e.Capture), e, gap); err != nil {
		t.Fatal(err)
	}
	t.Skipf("known analyzer gap: %s: %q", gap.why, gap.diffs)
}
