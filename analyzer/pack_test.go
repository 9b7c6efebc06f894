package analyzer

import (
	"path/filepath"
	"reflect"
	"testing"

	"teardown/capture"
	"teardown/reassembly"
)

// TestPackRoundTrip packs and unpacks every flow of every lab capture, with
// its full verdict, timeline and details, and of the unit test scripts, and
// wants the same Flow back, nil and empty kept apart.
func TestPackRoundTrip(t *testing.T) {
	var flows []*Flow
	paths, err := filepath.Glob("../testdata/pcaps/*.pcap*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no lab captures: %v", err)
	}
	for _, p := range paths {
		r, err := capture.Open([]string{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := New(Config{}, func(f *Flow) { flows = append(flows, f) })
		var s reassembly.Segment
		for r.Next(&s) {
			a.Add(&s)
		}
		a.Close()
		r.Close()
	}
	// Values the lab does not produce: empty but non-nil slices and maps,
	// a late duplicate without an answer frame, negative times, notes and
	// decisive names outside the tables, timestamps that go backwards.
	answer := FrameRef{File: 2, Frame: 1 << 40}
	flows = append(flows,
		&Flow{Events: []Event{}, Decisive: map[string]FrameRef{}},
		&Flow{Events: []Event{{Notes: []string{"a note of no table", "retransmission"}, TSval: 5, TSecr: 1 << 31},
			{TSval: 1, TSecr: 0}}, Decisive: map[string]FrameRef{"a name of no table": {Frame: 3}, "rst": {Frame: -4}}},
		&Flow{Events: []Event{{Notes: []string{}, At: -5, Elided: 3}}, FirstAt: 100, LastAt: 50,
			LateDuplicate: &LateDupInfo{FromIncarnation: 7}, Reset: &ResetInfo{}},
		&Flow{LateDuplicate: &LateDupInfo{AnswerFrame: &answer, Answer: "RST"}, StuckFor: -1})
	n := 0
	for _, f := range flows {
		got := unpackFlow(string(packFlow(nil, f)), nil)
		if !reflect.DeepEqual(got, f) {
			t.Errorf("flow %d (%s) differs after pack/unpack:\n got %+v\nwant %+v", f.ID, f.Class, got, f)
		}
		if len(f.Events) > 0 {
			n++
		}
	}
	if n < 50 {
		t.Errorf("only %d flows with a timeline were checked", n)
	}
}
