package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// The layouts the writers use: ndjson's one line with "type":"flow", and
// the json document's indented flows.
var flowLayouts = []struct {
	name           string
	typ            bool
	prefix, indent string
}{
	{"ndjson", true, "", ""},
	{"json", false, "    ", "  "},
}

// inputSets are Options.Inputs to render with: one input (frames cited as
// numbers), several (cited as "FILE:FRAME", with characters json.Marshal
// escapes as HTML), and hostile names.
var inputSets = [][]string{
	{"capture.pcap"},
	{"a.pcap", "b<&>.pcapng.gz"},
	{hostile, "b" + hostile, markup},
	{"", "b.pcap"}, // an empty name: frames cited as numbers
}

// checkAppendFlow renders f with appendFlow and with the reflection-based
// reference in every layout and reports any difference.
func checkAppendFlow(t testing.TB, w *Writer, f *analyzer.Flow, what string) {
	t.Helper()
	for _, l := range flowLayouts {
		want, err := w.refFlow(f, l.typ, l.prefix, l.indent)
		if err != nil {
			t.Fatalf("%s (%s): reference encoding: %v", what, l.name, err)
		}
		pre := []byte("prefix") // appendFlow must append, not overwrite
		got := w.appendFlow(slices.Clip(pre), f, l.typ, l.prefix, l.indent)
		if !bytes.HasPrefix(got, pre) {
			t.Fatalf("%s (%s): appendFlow dropped what dst held", what, l.name)
		}
		if got = got[len(pre):]; !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			lo := max(i-60, 0)
			t.Fatalf("%s (%s): appendFlow differs from encoding/json at byte %d:\n got …%q\nwant …%q",
				what, l.name, i, got[lo:min(i+60, len(got))], want[lo:min(i+60, len(want))])
		}
	}
}

// TestAppendFlowFixtures compares appendFlow with the reflection-based
// encoding on the fixtures, the hostile and markup strings included.
func TestAppendFlowFixtures(t *testing.T) {
	flows := append(fixtureFlows(), hostileFlow(), markupFlow())
	// Odd values: an input index outside Options.Inputs, unknown
	// frames, an answer frame, an unknown class and state, every flag,
	// a stuck side with a stray bit, timestamps, negative numbers.
	odd := fixtureFlows()[2]
	odd.Class, odd.FinalState[0], odd.Vantage, odd.ActiveCloser = 200, 99, 9, 9
	odd.Flags = ^analyzer.Flags(0)
	odd.StuckSide, odd.StuckFor = 3, 1
	odd.First.File, odd.Last.Frame = 7, 0
	odd.LateDuplicate = &analyzer.LateDupInfo{Frame: analyzer.FrameRef{File: 1, Frame: 3}, FromIncarnation: -1, AnswerFrame: &analyzer.FrameRef{Frame: 4}}
	odd.Decisive = map[string]analyzer.FrameRef{"": {}, "z": {Frame: 1}, "a\u2028": {Frame: 2}, "\xff": {Frame: -1}}
	odd.TimeWaitUntil = [2]int64{math.MinInt64, math.MaxInt64}
	odd.FirstAt, odd.LastAt = math.MaxInt64, math.MinInt64
	odd.Packets = [2]int64{math.MinInt64, -1}
	odd.Bytes = [2]uint64{math.MaxUint64, 0}
	odd.Events[0].TSval, odd.Events[0].TSecr, odd.Events[0].Elided = 1, math.MaxUint32, -2
	odd.Events[0].Flags, odd.Events[1].Flags = 0, 0xff
	odd.Events[1].File = -1
	odd.Events[1].Notes = []string{}
	flows = append(flows, odd, &analyzer.Flow{})
	for _, inputs := range inputSets {
		w := NewWriter(io.Discard, NDJSON, Options{Inputs: inputs})
		for _, f := range flows {
			checkAppendFlow(t, w, f, fmt.Sprintf("flow %d with inputs %q", f.ID, inputs))
		}
	}
}

// analyzeFile runs the analyzer on one capture and calls fn with every
// flow, fully detailed, before the analyzer recycles it.
func analyzeFile(t testing.TB, path string, fn func(*analyzer.Flow)) {
	t.Helper()
	r, err := capture.Open([]string{path}, func(capture.Warning) {})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := analyzer.New(analyzer.Config{FrameName: FrameNamer([]string{path})}, fn)
	var seg reassembly.Segment
	for r.Next(&seg) {
		a.Add(&seg)
	}
	a.Close()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestAppendFlowPcaps compares appendFlow with the reflection-based
// encoding on every flow of every committed capture, cited with one
// input and with several.
func TestAppendFlowPcaps(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "*.pcap*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no captures in testdata/pcaps")
	}
	total := 0
	for _, p := range paths {
		name := filepath.Base(p)
		single := NewWriter(io.Discard, NDJSON, Options{Inputs: []string{name}})
		multi := NewWriter(io.Discard, JSON, Options{Inputs: []string{name, "other.pcap"}})
		analyzeFile(t, p, func(f *analyzer.Flow) {
			total++
			checkAppendFlow(t, single, f, fmt.Sprintf("%s flow %d", name, f.ID))
			checkAppendFlow(t, multi, f, fmt.Sprintf("%s flow %d (two inputs)", name, f.ID))
		})
	}
	t.Logf("%d flows in %d captures", total, len(paths))
}

// TestJSONWritersUseAppendFlow checks the writers end to end: a json and
// an ndjson document of the fixtures, rebuilt from the reference encoding
// of each flow, equals what the writers produce.
func TestJSONWritersUseAppendFlow(t *testing.T) {
	flows := emitOrder(fixtureFlows())
	opts := Options{Inputs: []string{"a.pcap", "b.pcap"}}
	ref := NewWriter(io.Discard, JSON, opts)

	var want bytes.Buffer
	for _, f := range flows {
		b, err := ref.refFlow(f, true, "", "")
		if err != nil {
			t.Fatal(err)
		}
		want.Write(b)
		want.WriteByte('\n')
	}
	got := render(t, NDJSON, opts, flows, fixtureInputs())
	if i := bytes.LastIndexByte(got[:len(got)-1], '\n'); !bytes.Equal(got[:i+1], want.Bytes()) {
		t.Errorf("ndjson flow lines differ from the reference encoding")
	}

	want.Reset()
	fmt.Fprintf(&want, "{\n  \"schema_version\": %d,\n  \"flows\": [", SchemaVersion)
	for i, f := range flows {
		b, err := ref.refFlow(f, false, "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			want.WriteByte(',')
		}
		want.WriteString("\n    ")
		want.Write(b)
	}
	want.WriteString("\n  ],\n  \"inputs\": ")
	got = render(t, JSON, opts, flows, fixtureInputs())
	if !bytes.HasPrefix(got, want.Bytes()) {
		t.Errorf("json flows differ from the reference encoding")
	}
}

// refFmtSeconds is fmtSeconds as it was written with fmt.
func refFmtSeconds(ns int64) string {
	neg := ns < 0
	u := uint64(ns)
	if neg {
		u = -u
	}
	us := (u + 500) / 1000
	s := fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
	if neg && us != 0 {
		s = "-" + s
	}
	return s
}

// TestAppendHelpers compares the appenders of numbers, times, endpoints,
// TCP flags and Community IDs with the functions they replace.
func TestAppendHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nums := []int64{0, 1, -1, 499, 500, -500, -501, 999_999_499, 999_999_500, 1e9, -1e9, 1_250_000_000,
		math.MaxInt64, math.MinInt64, math.MinInt64 + 1, math.MaxInt64 - 499}
	for range 10000 {
		nums = append(nums, rng.Int64(), -rng.Int64N(1e12), rng.Int64N(1e12), int64(rng.Uint64()))
	}
	for _, n := range nums {
		if got, want := string(appendSeconds(nil, n)), refFmtSeconds(n); got != want {
			t.Fatalf("appendSeconds(%d) = %q, want %q", n, got, want)
		}
		if got, want := string(appendTime(nil, n)), time.Unix(0, n).UTC().Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendTime(%d) = %q, want %q", n, got, want)
		}
	}
	for f := range 256 {
		if got, want := string(appendTCPFlags(nil, reassembly.Flags(f))), reassembly.Flags(f).String(); got != want {
			t.Fatalf("appendTCPFlags(%#x) = %q, want %q", f, got, want)
		}
	}
	addrs := []string{"198.18.0.1:40000", "[2001:db8::1]:80", "[::]:0", "0.0.0.0:65535", "[::ffff:1.2.3.4]:5", "[fe80::1:2:3:4]:443"}
	for range 1000 {
		var a [16]byte
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			copy(a[:12], []byte{10: 0xff, 11: 0xff})
		}
		addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom16(a), uint16(rng.Uint32())).String())
	}
	for _, s := range addrs {
		a := ap(s)
		if got, want := string(a.AppendTo(nil)), netip.AddrPortFrom(a.Addr.Netip(), a.Port).String(); got != want {
			t.Fatalf("AppendTo(%s) = %q, want %q", s, got, want)
		}
		for _, peer := range addrs[:6] {
			p := netip.MustParseAddrPort(peer)
			x := netip.MustParseAddrPort(s)
			if got, want := string(appendCommunityID(nil, uint16(len(peer)), ProtoTCP, x, p)), CommunityID(uint16(len(peer)), ProtoTCP, x, p); got != want {
				t.Fatalf("appendCommunityID(%s, %s) = %q, want %q", s, peer, got, want)
			}
		}
	}
	if got := appendCommunityID(nil, 0, ProtoTCP, netip.AddrPort{}, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("appendCommunityID of invalid addresses = %q, want nothing", got)
	}
}

// TestAppendFlowAllocs checks that writing a flow allocates nothing once
// the buffers have grown.
func TestAppendFlowAllocs(t *testing.T) {
	f := fixtureFlows()[1]
	w := NewWriter(io.Discard, NDJSON, Options{Inputs: []string{"a.pcap", "b.pcap"}})
	var buf []byte
	allocs := testing.AllocsPerRun(100, func() {
		buf = w.appendFlow(buf[:0], f, true, "", "")
	})
	if allocs != 0 {
		t.Errorf("appendFlow allocates %v times per flow, want 0", allocs)
	}
}

// fuzzRunes are the characters the fuzzer's strings are built from:
// everything encoding/json or escapeJSON treats specially, and plain text.
var fuzzRunes = []string{
	"a", "Z", " ", ":", "\"", "\\", "/", "<", ">", "&", "\x00", "\x07", "\b", "\t", "\n", "\f", "\r", "\x1b", "\x1f", "\x7f",
	"\u0080", "\u009b", "\u009f", "\u00a0", "é", "\u061c", "\u200b", "\u200e", "\u200f", "\u2028", "\u2029",
	"\u202a", "\u202e", "\u2066", "\u2069", "\u206a", "\ufeff", "\ufffd", "😀", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
}

// fuzzString turns data into a string: bytes taken as they are, or
// picked from fuzzRunes, as the first byte says.
func fuzzString(data []byte) string {
	if len(data) == 0 || data[0]&1 == 0 {
		return string(data)
	}
	var b strings.Builder
	for _, c := range data[1:] {
		b.WriteString(fuzzRunes[int(c)%len(fuzzRunes)])
	}
	return b.String()
}

// fuzzFlow builds a flow from the fuzzer's strings, with the numbers and
// optional parts drawn from seed.
func fuzzFlow(strs []string, seed uint64) *analyzer.Flow {
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	str := func() string { return strs[rng.IntN(len(strs))] }
	num := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return rng.Int64N(100)
		case 2:
			return -rng.Int64N(1e12)
		}
		return int64(rng.Uint64())
	}
	ref := func() analyzer.FrameRef { return analyzer.FrameRef{File: rng.IntN(4) - 1, Frame: num()} }
	addr := func() reassembly.AddrPort {
		var a reassembly.AddrPort
		if rng.IntN(2) == 0 {
			a.Addr = reassembly.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), 0, 1})
		} else {
			a.Addr[0], a.Addr[15] = 0x20, byte(rng.Uint32())
		}
		a.Port = uint16(rng.Uint32())
		return a
	}
	f := &analyzer.Flow{
		ID: int(num()), Stream: int(num()), Incarnation: int(num()),
		Client: addr(), Server: addr(), DirGuessed: rng.IntN(2) == 0,
		Class: analyzer.Class(rng.IntN(16)), Flags: analyzer.Flags(rng.Uint32()),
		ActiveCloser: analyzer.Closer(rng.IntN(6)), Vantage: analyzer.Vantage(rng.IntN(6)),
		VantageWhy: str(), Verdict: str(),
		TimeWaitUntil: [2]int64{num(), num()},
		StuckSide:     analyzer.Side(rng.IntN(4)), StuckFor: num(),
		First: ref(), Last: ref(), FirstAt: num(), LastAt: num(),
		Packets:    [2]int64{num(), num()},
		Bytes:      [2]uint64{uint64(num()), uint64(num())},
		FinalState: [2]analyzer.State{analyzer.State(rng.IntN(16)), analyzer.State(rng.IntN(16))},
	}
	if rng.IntN(2) == 0 {
		f.Decisive = map[string]analyzer.FrameRef{}
		for range rng.IntN(5) {
			f.Decisive[str()] = ref()
		}
	}
	if rng.IntN(2) == 0 {
		f.Reset = &analyzer.ResetInfo{By: analyzer.Side(rng.IntN(4)), Frame: ref(), Cause: str(), Evidence: str()}
	}
	if rng.IntN(2) == 0 {
		f.LateDuplicate = &analyzer.LateDupInfo{Frame: ref(), FromIncarnation: int(num()), Answer: str()}
		if rng.IntN(2) == 0 {
			r := ref()
			f.LateDuplicate.AnswerFrame = &r
		}
	}
	for range rng.IntN(4) {
		e := analyzer.Event{
			FrameRef: ref(), At: num(), Rel: num(), From: analyzer.Side(rng.IntN(2)),
			Flags: reassembly.Flags(rng.Uint32()), Seq: rng.Uint32(), Ack: rng.Uint32(), Len: rng.Uint32(), Win: rng.Uint32(),
			Client: analyzer.State(rng.IntN(16)), Server: analyzer.State(rng.IntN(16)), Elided: int(num()),
		}
		if rng.IntN(2) == 0 {
			e.TSval, e.TSecr = rng.Uint32()%3, rng.Uint32()%3
		}
		if n := rng.IntN(4); n > 0 {
			for range n - 1 {
				e.Notes = append(e.Notes, str())
			}
		}
		f.Events = append(f.Events, e)
	}
	return f
}

// FuzzAppendFlow compares appendFlow with the reflection-based encoding on
// random flows whose strings (verdicts, notes, decisive keys, input names)
// carry invalid UTF-8, control, bidi and HTML characters.
func FuzzAppendFlow(f *testing.F) {
	f.Add([]byte(hostile), []byte("\x01\x05\x10\x15\x20\x2a"), []byte("a.pcap"), uint64(1))
	f.Add([]byte(markup), []byte{}, []byte("\x01\x07\x08\x09"), uint64(2))
	f.Add([]byte("\xe2\x80\xae\xc2\x9b\xff"), []byte("\x01\x2b\x2c"), []byte("b<&>.pcap"), uint64(3))
	f.Fuzz(func(t *testing.T, a, b, c []byte, seed uint64) {
		strs := []string{fuzzString(a), fuzzString(b), fuzzString(c), "", "retransmission"}
		fl := fuzzFlow(strs, seed)
		for _, inputs := range [][]string{{strs[2]}, {strs[2], strs[0]}} {
			w := NewWriter(io.Discard, NDJSON, Options{Inputs: inputs})
			checkAppendFlow(t, w, fl, fmt.Sprintf("flow with inputs %q", inputs))
		}
	})
}

// cloneFlow copies what the analyzer reuses once its callback returns.
func cloneFlow(f *analyzer.Flow) *analyzer.Flow {
	c := *f
	c.Decisive = maps.Clone(f.Decisive)
	c.Events = slices.Clone(f.Events)
	for i := range c.Events {
		c.Events[i].Notes = slices.Clone(c.Events[i].Notes)
	}
	if f.Reset != nil {
		r := *f.Reset
		c.Reset = &r
	}
	if f.LateDuplicate != nil {
		d := *f.LateDuplicate
		c.LateDuplicate = &d
		if d.AnswerFrame != nil {
			a := *d.AnswerFrame
			c.LateDuplicate.AnswerFrame = &a
		}
	}
	return &c
}

// BenchmarkNDJSON writes the flows of benchCapture in ndjson through a
// Writer (summary and findings bookkeeping included), and, for
// comparison, through the old reflection-based encoding.
func BenchmarkNDJSON(b *testing.B) {
	flows := benchFlows(b)
	opts := Options{Inputs: []string{filepath.Base(benchCapture)}}
	b.Run("append", func(b *testing.B) {
		benchRender(b, flows, NDJSON, opts, writeFlow(b))
	})
	b.Run("reflect", func(b *testing.B) {
		benchRender(b, flows, NDJSON, opts, func(w *Writer, f *analyzer.Flow) {
			w.sum.add(f)
			w.find.add(f)
			w.sum.selected++
			line, err := w.refFlow(f, true, "", "")
			if err != nil {
				b.Fatal(err)
			}
			w.write(append(line, '\n'))
		})
	})
}
