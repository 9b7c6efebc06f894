package analyzer

import (
	"math"
	"testing"
	"time"
)

// TestAppendUTC checks the hand-written timestamp against time.Format,
// including the years it leaves to time.Format.
func TestAppendUTC(t *testing.T) {
	for _, ns := range []int64{
		0, 1, 999, 1_000, 1_763_700_000_123_456_789, 1_763_700_000_999_999_999,
		-1, -30_000_000_000_000_000, math.MinInt64, math.MaxInt64,
		time.Date(999, 12, 31, 23, 59, 59, 999_999_000, time.UTC).UnixNano(),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).UnixNano(),
	} {
		want := time.Unix(0, ns).UTC().Format(utcLayout)
		if got := string(appendUTC([]byte("x"), ns)); got != "x"+want {
			t.Errorf("appendUTC(%d) = %q, want %q", ns, got, "x"+want)
		}
	}
}
