//go:build linux

package netlab

import (
	"path/filepath"
	"strings"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

func init() { Analyze = analyze }

// analyze runs teardown's capture reader and analyzer on one file.
func analyze(path string) ([]Verdict, error) {
	r, err := capture.Open([]string{path}, func(capture.Warning) {})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Verdict
	a := analyzer.New(analyzer.Config{}, func(f *analyzer.Flow) {
		frames := map[string]int{}
		for k, ref := range f.Decisive {
			frames[k] = int(ref.Frame)
		}
		out = append(out, Verdict{
			Client: f.Client.String(), Server: f.Server.String(), Incarnation: f.Incarnation,
			Class: f.Class.String(), Flags: f.Flags.Strings(), ActiveCloser: f.ActiveCloser.String(),
			Frames: frames,
		})
	})
	var seg reassembly.Segment
	for r.Next(&seg) {
		a.Add(&seg)
	}
	a.Close()
	return out, r.Err()
}

// TestCommittedVerdicts checks the analyzer against every committed
// capture's expectation file: class, exact flags, active closer and the
// decisive frames.
func TestCommittedVerdicts(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "pcaps", "*.expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no expectation files in testdata/pcaps")
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".expect.json")
		t.Run(name, func(t *testing.T) {
			e, err := ReadExpectation(p)
			if err != nil {
				t.Fatal(err)
			}
			if gap, ok := knownAnalyzerGaps[name]; ok {
				checkKnownGap(t, p, e, gap)
				return
			}
			CheckVerdicts(t, filepath.Join(filepath.Dir(p), e.Capture), p)
		})
	}
}
