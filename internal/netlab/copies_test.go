//go:build linux

package netlab

import (
	"path/filepath"
	"slices"
	"testing"
)

// checkRouterAny checks a router-any capture set in dir: the middle capture
// has every frame twice (arriving, leaving, within CopyWindow, nothing of
// the same sender between), except the final ACK the router dropped, and
// every flow gets the same verdict in the middle as at both ends.
func checkRouterAny(t *testing.T, dir string) {
	t.Helper()
	mid := filepath.Join(dir, "router-any.middle-sll2.pcap")
	cp, err := PairCopies(mid)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ReadExpectation(ExpectPath(mid))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ReadCapture(mid)
	if err != nil {
		t.Fatal(err)
	}
	lost := e.Flow(cli4(40002).String(), srv4.String(), 1)
	if lost == nil || lost.Class != "lost-ack" {
		t.Fatalf("lost-ack flow: %+v", lost)
	}
	if want := []int{lost.Frames["final_ack"]}; !slices.Equal(cp.Single, want) {
		t.Errorf("frames seen once: %v, want the dropped final ACK %v", cp.Single, want)
	}
	if len(cp.Second)*2+len(cp.Single) != len(pk) {
		t.Errorf("%d pairs and %d single frames, but %d frames", len(cp.Second), len(cp.Single), len(pk))
	}
	if cp.MaxGap > CopyWindow || len(cp.Interleaved) > 0 {
		t.Errorf("copies up to %v apart, interleaved %v", cp.MaxGap, cp.Interleaved)
	}
	for _, f := range e.Flows {
		for k, n := range f.Frames {
			if _, second := cp.Second[n]; second {
				t.Errorf("%s: decisive frame %s=%d is a second copy", f.Client, k, n)
			}
		}
	}
	for _, side := range []string{"client", "server"} {
		o, err := ReadExpectation(filepath.Join(dir, "router-any."+side+".expect.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Flows) != len(e.Flows) {
			t.Fatalf("%s: %d flows, middle %d", side, len(o.Flows), len(e.Flows))
		}
		for i, f := range o.Flows {
			m := e.Flows[i]
			if f.Client != m.Client || f.Class != m.Class || !SameFlags(f.Flags, m.Flags) || f.ActiveCloser != m.ActiveCloser {
				t.Errorf("%s: %s %s %v %s, middle %s %s %v %s", side, f.Client, f.Class, f.Flags, f.ActiveCloser, m.Client, m.Class, m.Flags, m.ActiveCloser)
			}
		}
	}
}

func TestCommittedRouterAny(t *testing.T) {
	checkRouterAny(t, filepath.Join("..", "..", "testdata", "pcaps"))
}
