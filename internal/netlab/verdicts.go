//go:build linux

package netlab

import (
	"fmt"
	"testing"
)

// Verdict is what an analyzer said about one flow incarnation, in the
// vocabulary of the expectation files.
type Verdict struct {
	Client       string         // "198.18.0.1:40000"
	Server       string         // "198.18.0.2:8080"
	Incarnation  int            // 1, 2, ...
	Class        string         // API name of the class
	Flags        []string       // API names of the flags
	ActiveCloser string         // "client", "server", "both", "none"
	Frames       map[string]int // decisive frames by name, as in FlowExpect.Frames
}

// Analyze runs teardown's analyzer on one capture and returns a verdict per
// flow incarnation. The package's tests set it (analyze_test.go) to
// teardown's capture reader and analyzer; netlab itself does not import the
// analyzer, so that the analyzer's own tests may use the lab.
var Analyze func(pcapPath string) ([]Verdict, error)

// CheckVerdicts runs Analyze on a capture and compares every flow
// incarnation with its expectation file: the class, the exact set of flags
// and the active closer must match, every expected flow must be found and
// no unexpected flow may appear. Decisive frames the analyzer names under
// the same key as the expectation must have the same number.
func CheckVerdicts(t testing.TB, pcapPath, expectPath string) {
	t.Helper()
	exp, err := ReadExpectation(expectPath)
	if err != nil {
		t.Fatal(err)
	}
	if Analyze == nil {
		t.Fatalf("%s: netlab.Analyze is not set: nothing to check the expectation against", exp.Capture)
	}
	got, err := Analyze(pcapPath)
	if err != nil {
		t.Fatalf("analyzing %s: %v", pcapPath, err)
	}
	for _, p := range CompareVerdicts(exp, got) {
		t.Errorf("%s: %s", exp.Capture, p)
	}
}

// CompareVerdicts lists the differences between an expectation and an
// analyzer's verdicts (empty when they agree).
func CompareVerdicts(exp *Expectation, got []Verdict) []string {
	var probs []string
	seen := map[string]bool{}
	for _, v := range got {
		key := fmt.Sprintf("%s -> %s #%d", v.Client, v.Server, v.Incarnation)
		seen[key] = true
		f := exp.Flow(v.Client, v.Server, v.Incarnation)
		if f == nil {
			probs = append(probs, fmt.Sprintf("%s: unexpected flow (class %s)", key, v.Class))
			continue
		}
		if v.Class != f.Class {
			probs = append(probs, fmt.Sprintf("%s: class %s, want %s", key, v.Class, f.Class))
		}
		if !SameFlags(v.Flags, f.Flags) {
			probs = append(probs, fmt.Sprintf("%s: flags %v, want %v", key, v.Flags, f.Flags))
		}
		if v.ActiveCloser != f.ActiveCloser {
			probs = append(probs, fmt.Sprintf("%s: active closer %s, want %s", key, v.ActiveCloser, f.ActiveCloser))
		}
		for k, want := range f.Frames {
			if g, ok := v.Frames[k]; ok && g != want {
				probs = append(probs, fmt.Sprintf("%s: frame %s=%d, want %d", key, k, g, want))
			}
		}
	}
	for _, f := range exp.Flows {
		key := fmt.Sprintf("%s -> %s #%d", f.Client, f.Server, f.Incarnation)
		if !seen[key] {
			probs = append(probs, fmt.Sprintf("%s: flow missing (want %s)", key, f.Class))
		}
	}
	return probs
}
