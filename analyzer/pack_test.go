package analyzer

import (
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"teardown/capture"
	"teardown/reassembly"
)

// TestPackRoundTrip packs and unpacks every flow of every lab capture, with
// its full verdict, timeline and details, and of the unit test scripts, and
// wants the same Flow back, nil and empty kept apart, from what was packed
// and the fields the core gives, even when the Flow packed had other values
// in those.
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
		&Flow{LateDuplicate: &LateDupInfo{AnswerFrame: &answer, Answer: "RST"}, StuckFor: -1},
		// Events from several inputs, with repeated and changing windows,
		// and sides and states no real flow has.
		&Flow{First: FrameRef{File: 1, Frame: 10}, FirstAt: 7, Events: []Event{
			{FrameRef: FrameRef{File: 1, Frame: 10}, At: 7, Rel: 0, Win: 100, Client: StateSynSent},
			{FrameRef: FrameRef{File: 0, Frame: 3}, At: 9, Rel: 2, From: Server, Win: 100, Server: StateReset, Client: StateClosed},
			{FrameRef: FrameRef{File: 0, Frame: 4}, At: 9, Rel: 2, From: Server, Win: 100},
			{FrameRef: FrameRef{File: 1, Frame: 11}, At: 12, Rel: 5, Win: 200, HasTS: true, TSval: 1 << 31},
			{FrameRef: FrameRef{File: 1, Frame: 12}, At: 13, Rel: 6, From: 7, Client: 200, Server: 16, Win: 200},
			{FrameRef: FrameRef{File: 1, Frame: 13}, At: 14, Rel: 7, Win: 200, Elided: -2},
		}, Client: reassembly.AddrPort{Addr: reassembly.Addr{10: 0xff, 11: 0xff, 12: 198, 13: 18}, Port: 1},
			Server:        reassembly.AddrPort{Addr: reassembly.Addr{0: 0x20, 1: 0x01, 10: 0xff, 11: 0xff}, Port: 2},
			TimeWaitUntil: [2]int64{0, -1}, LastAt: 1 << 62},
		// Sentences the dictionary must give back exactly: digit runs with
		// leading zeros or too long for a number, digits alone, text
		// alone, non-ASCII text.
		&Flow{Verdict: "0 at 05:23:52.007 — frame 18446744073709551615, 99999999999999999999 µs", VantageWhy: "12345",
			Reset: &ResetInfo{Cause: "0", Evidence: "[2001:db8::1]:80 → 198.18.0.1:40000 took 0.000s"}})
	var d textDict
	n := 0
	for _, f := range flows {
		packed := packFlow(nil, f, &d)
		got := withCore(f)
		unpackFlow(string(packed), got, nil, &d)
		if !reflect.DeepEqual(got, f) {
			t.Errorf("flow %d (%s) differs after pack/unpack:\n got %+v\nwant %+v", f.ID, f.Class, got, f)
		}
		if len(f.Events) > 0 {
			n++
		}
		// What the core gives is not packed: but for the first frame and
		// time, which the events and decisive frames are packed from,
		// another core's values are not kept.
		other := *f
		other.ID, other.Stream, other.Incarnation = f.ID+1, f.Stream+1, f.Incarnation+1
		other.Client, other.Server, other.DirGuessed = f.Server, f.Client, !f.DirGuessed
		other.Last, other.LastAt = FrameRef{File: f.Last.File + 1, Frame: f.Last.Frame + 1}, f.LastAt+1
		other.FinalState = [2]State{f.FinalState[1], f.FinalState[0]}
		other.CaptureCopies, other.Packets, other.Bytes = f.CaptureCopies+1, [2]int64{f.Packets[0] + 1, 2}, [2]uint64{3, f.Bytes[1] + 1}
		other.TimeWaitUntil = [2]int64{f.TimeWaitUntil[0] + 1, 5}
		got = withCore(f)
		unpackFlow(string(packFlow(nil, &other, &d)), got, nil, &d)
		if !reflect.DeepEqual(got, f) {
			t.Errorf("flow %d (%s): packed with another core's fields, unpacked with its own, it differs:\n got %+v\nwant %+v", f.ID, f.Class, got, f)
		}
	}
	if n < 50 {
		t.Errorf("only %d flows with a timeline were checked", n)
	}
}

// withCore returns a Flow with only the fields of f that the analyzer
// sets from the flow's core (see coreInto) before unpackFlow.
func withCore(f *Flow) *Flow {
	return &Flow{ID: f.ID, Stream: f.Stream, Incarnation: f.Incarnation, Client: f.Client, Server: f.Server,
		DirGuessed: f.DirGuessed, First: f.First, Last: f.Last, FirstAt: f.FirstAt, LastAt: f.LastAt,
		FinalState: f.FinalState, CaptureCopies: f.CaptureCopies, Packets: f.Packets, Bytes: f.Bytes,
		TimeWaitUntil: f.TimeWaitUntil}
}

// TestTextDictFull checks that once the dictionary is full, by words or
// by bytes, sentences are still packed and given back whole, their new
// words as they are, and the dictionary grows no more.
func TestTextDictFull(t *testing.T) {
	letters := func(i, n int) string { // i in base 26, as n letters or more
		var b []byte
		for ; i > 0 || len(b) < n; i /= 26 {
			b = append(b, byte('a'+i%26))
		}
		return string(b)
	}
	for _, tc := range []struct {
		name string
		long int // letters per word
	}{{"words", 1}, {"bytes", 1000}} {
		var d textDict
		for i := range dictMaxWords + 10 {
			d.pack(nil, letters(i, tc.long)+strconv.Itoa(i))
		}
		if len(d.words) != dictMaxWords && d.bytes+tc.long <= dictMaxBytes {
			t.Fatalf("%s: dictionary holds %d words in %d bytes, want it full", tc.name, len(d.words), d.bytes)
		}
		words, bytes := len(d.words), d.bytes
		for _, s := range []string{letters(99999, tc.long) + ", frame 12", letters(3, tc.long) + "7", ""} {
			b := d.pack(nil, s)
			if got := newUnpackerDict(string(b), &d).text(); got != s {
				t.Errorf("%s: with a full dictionary, %q comes back as %q", tc.name, s, got)
			}
		}
		if len(d.words) != words || d.bytes != bytes {
			t.Errorf("%s: the full dictionary grew from %d words and %d bytes to %d and %d", tc.name, words, bytes, len(d.words), d.bytes)
		}
		// A sentence of a known word and a number packs small.
		if b := d.pack(nil, letters(3, tc.long)+"7"); len(b) > 6 {
			t.Errorf("%s: a known word and a number take %d bytes", tc.name, len(b))
		}
	}
}

func newUnpackerDict(s string, d *textDict) *unpacker {
	u := newUnpacker(s)
	u.d = d
	return u
}
