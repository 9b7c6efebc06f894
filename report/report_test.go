package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
)

var update = flag.Bool("update", false, "update golden files in testdata/golden")

// render feeds flows to a new Writer and closes it.
func render(t *testing.T, f Format, opts Options, flows []*analyzer.Flow, inputs []capture.Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, f, opts)
	for _, fl := range flows {
		if err := w.WriteFlow(fl); err != nil {
			t.Fatalf("WriteFlow(flow %d): %v", fl.ID, err)
		}
	}
	if err := w.Close(inputs, fixtureStats()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/golden/name, rewrites it with
// -update and leaves name.got beside it on a mismatch.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		if err := os.WriteFile(golden+".got", got, 0o644); err != nil {
			t.Error(err)
		}
		t.Errorf("%s differs from the golden file; got written to %s.got (diff them, then go test -update)", name, golden)
	} else {
		os.Remove(golden + ".got")
	}
}

func twoInputs() []capture.Input {
	in := fixtureInputs()
	a, b := in[0], in[0]
	a.Name, b.Name = "a.pcap", "b.pcapng.gz"
	b.Format, b.LinkTypes = "pcapng+gzip", []string{"Linux SLL2", "Ethernet"}
	return []capture.Input{a, b}
}

func TestGolden(t *testing.T) {
	multi := emitOrder(fixtureFlows())
	for _, f := range multi {
		// Put the even flows in the second file.
		if f.ID%2 == 0 {
			for i := range f.Events {
				f.Events[i].File = 1
			}
			f.First.File, f.Last.File = 1, 1
			for k, r := range f.Decisive {
				r.File = 1
				f.Decisive[k] = r
			}
			if f.Reset != nil {
				f.Reset.Frame.File = 1
			}
		}
	}
	tests := []struct {
		name   string
		format Format
		opts   Options
		flows  []*analyzer.Flow
		inputs []capture.Input
	}{
		{"text.txt", Text, Options{Inputs: []string{"capture.pcap"}}, nil, nil},
		{"text_all.txt", Text, Options{Inputs: []string{"capture.pcap"}, All: true}, nil, nil},
		{"text_class.txt", Text, Options{Inputs: []string{"capture.pcap"}, Filter: Filter{Classes: []analyzer.Class{analyzer.ClassFourWay, analyzer.ClassRefused}}}, nil, nil},
		{"text_multi_ascii.txt", Text, Options{Inputs: []string{"a.pcap", "b.pcapng.gz"}, ASCII: true}, multi, twoInputs()},
		{"text_stream.txt", Text, Options{Inputs: []string{"capture.pcap"}, TextBuffer: -1}, nil, nil},
		{"json.json", JSON, Options{Inputs: []string{"capture.pcap"}}, nil, nil},
		{"json_multi.json", JSON, Options{Inputs: []string{"a.pcap", "b.pcapng.gz"}, Filter: Filter{FlowID: 6}}, multi, twoInputs()},
		{"json_empty.json", JSON, Options{Inputs: []string{"capture.pcap"}}, []*analyzer.Flow{}, nil},
		{"ndjson.ndjson", NDJSON, Options{Inputs: []string{"capture.pcap"}}, nil, nil},
		{"text_empty.txt", Text, Options{Inputs: []string{"capture.pcap"}}, []*analyzer.Flow{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flows, inputs := tt.flows, tt.inputs
			if flows == nil {
				flows = emitOrder(fixtureFlows())
			}
			if inputs == nil {
				inputs = fixtureInputs()
			}
			checkGolden(t, tt.name, render(t, tt.format, tt.opts, flows, inputs))
		})
	}
}

func TestJSONKeys(t *testing.T) {
	out := render(t, JSON, Options{Inputs: []string{"capture.pcap"}}, emitOrder(fixtureFlows()), fixtureInputs())
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("json output does not parse: %v", err)
	}
	for _, k := range []string{"schema_version", "inputs", "flows", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("document has no key %q", k)
		}
	}
	flows := doc["flows"].([]any)
	if len(flows) != 12 {
		t.Fatalf("got %d flows, want 12", len(flows))
	}
	classes := map[string]bool{}
	for _, x := range flows {
		f := x.(map[string]any)
		for _, k := range []string{"id", "stream", "client", "server", "incarnation", "class", "flags",
			"active_closer", "vantage", "verdict", "first_frame", "last_frame", "events",
			"time_wait", "stuck", "reset", "late_duplicate", "packets", "bytes", "vantage_why", "decisive"} {
			if _, ok := f[k]; !ok {
				t.Errorf("flow %v has no key %q", f["id"], k)
			}
		}
		if _, ok := f["flags"].([]any); !ok {
			t.Errorf("flow %v: flags = %#v, want an array", f["id"], f["flags"])
		}
		if _, ok := f["first_frame"].(float64); !ok {
			t.Errorf("flow %v: first_frame = %#v, want a number with one input", f["id"], f["first_frame"])
		}
		classes[f["class"].(string)] = true
	}
	for _, c := range analyzer.Classes() {
		if !classes[c.String()] {
			t.Errorf("no fixture flow of class %s", c)
		}
	}
	f9 := flows[6].(map[string]any) // emit order: 5 3 4 1 7 8 9
	if f9["client"] != "[2001:db8::1]:40000" {
		t.Errorf("client = %v, want [2001:db8::1]:40000", f9["client"])
	}
	ev := f9["events"].([]any)[0].(map[string]any)
	if ev["direction"] != "client->server" || ev["flags"] != "F." || ev["rel"] != 1.0 || ev["client_state"] != "ESTABLISHED" {
		t.Errorf("event = %v", ev)
	}
}

func TestJSONMultiCites(t *testing.T) {
	out := render(t, JSON, Options{Inputs: []string{"a.pcap", "b.pcap"}}, fixtureFlows()[:1], fixtureInputs())
	var doc struct {
		Flows []struct {
			FirstFrame any `json:"first_frame"`
			Events     []struct {
				Frame any    `json:"frame"`
				File  string `json:"file"`
			} `json:"events"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Flows[0].FirstFrame; got != "a.pcap:1" {
		t.Errorf("first_frame = %#v, want \"a.pcap:1\"", got)
	}
	if e := doc.Flows[0].Events[0]; e.Frame != 5.0 || e.File != "a.pcap" {
		t.Errorf("event frame, file = %#v, %q; want 5, a.pcap", e.Frame, e.File)
	}
}

func TestNDJSON(t *testing.T) {
	out := render(t, NDJSON, Options{Inputs: []string{"capture.pcap"}, Filter: Filter{Classes: []analyzer.Class{analyzer.ClassRSTAbort, analyzer.ClassOpen}}},
		emitOrder(fixtureFlows()), fixtureInputs())
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var types []string
	var ids []float64
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		types = append(types, m["type"].(string))
		if m["type"] == "flow" {
			ids = append(ids, m["id"].(float64))
		} else {
			sum := m["summary"].(map[string]any)
			if sum["flows"] != 12.0 || sum["selected"] != 2.0 {
				t.Errorf("summary flows, selected = %v, %v; want 12, 2", sum["flows"], sum["selected"])
			}
			if m["schema_version"] != float64(SchemaVersion) {
				t.Errorf("schema_version = %v", m["schema_version"])
			}
		}
	}
	if got := strings.Join(types, ","); got != "flow,flow,summary" {
		t.Errorf("line types = %s, want flow,flow,summary", got)
	}
	if len(ids) != 2 || ids[0] != 3 || ids[1] != 12 {
		t.Errorf("flow ids = %v, want [3 12]", ids)
	}
}

// NDJSON must write each flow as it arrives, before Close.
func TestNDJSONStreams(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, NDJSON, Options{})
	if err := w.WriteFlow(fixtureFlows()[0]); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("after one WriteFlow, %d lines written; want 1", n)
	}
}

func TestFilter(t *testing.T) {
	flows := fixtureFlows()
	two := 2
	tests := []struct {
		name   string
		filter Filter
		want   []int
	}{
		{"zero", Filter{}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"classes", Filter{Classes: []analyzer.Class{analyzer.ClassCloseWait, analyzer.ClassFINWait}}, []int{10, 11}},
		{"flow", Filter{FlowID: 7}, []int{7}},
		{"stream", Filter{Stream: &two}, []int{3}},
		{"flow and class disagree", Filter{FlowID: 7, Classes: []analyzer.Class{analyzer.ClassOpen}}, nil},
	}
	for _, tt := range tests {
		var got []int
		for _, f := range flows {
			if tt.filter.Match(f) {
				got = append(got, f.ID)
			}
		}
		if !equalInts(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The text format hides four-way and open flows unless asked.
func TestTextShown(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // flow headers expected
		not  []string
	}{
		{"default", Options{}, []string{"flow 3  rst-abort", "flow 10  close-wait"}, []string{"flow 1  four-way", "flow 12  open"}},
		{"all", Options{All: true}, []string{"flow 1  four-way", "flow 12  open"}, nil},
		{"class", Options{Filter: Filter{Classes: []analyzer.Class{analyzer.ClassOpen}}}, []string{"flow 12  open"}, []string{"flow 3 "}},
		{"flow", Options{Filter: Filter{FlowID: 1}}, []string{"flow 1  four-way"}, []string{"flow 3 "}},
	}
	for _, tt := range tests {
		out := string(render(t, Text, tt.opts, emitOrder(fixtureFlows()), fixtureInputs()))
		for _, s := range tt.want {
			if !strings.Contains(out, s) {
				t.Errorf("%s: output lacks %q", tt.name, s)
			}
		}
		for _, s := range tt.not {
			if strings.Contains(out, s) {
				t.Errorf("%s: output has %q", tt.name, s)
			}
		}
	}
}

// When the held blocks exceed TextBuffer, the text format switches to
// streaming and the summary comes last.
func TestTextOverflow(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Text, Options{All: true, TextBuffer: 1500})
	flows := emitOrder(fixtureFlows())
	for i, f := range flows {
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
		if i == 0 && buf.Len() != 0 {
			t.Fatalf("first block written before the buffer was full")
		}
	}
	if buf.Len() == 0 {
		t.Fatal("nothing written although the buffer overflowed")
	}
	if err := w.Close(fixtureInputs(), fixtureStats()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "the summary comes last") {
		t.Error("no note that the summary comes last")
	}
	if i, j := strings.Index(out, "Flows by class"), strings.LastIndex(out, "\nflow "); i < j {
		t.Errorf("summary at %d before the last flow block at %d", i, j)
	}
}

// TestTextHeld holds enough flow blocks to fill several of the chunks
// they are held in, and wants them printed after the summary as they would
// have been streamed before it, without the held bytes being copied as
// they grew.
func TestTextHeld(t *testing.T) {
	flows := emitOrder(fixtureFlows())
	slices.SortFunc(flows, func(a, b *analyzer.Flow) int { return a.ID - b.ID })
	write := func(w *Writer) (allocated uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 400 {
			for _, f := range flows {
				g := *f
				g.ID += i * len(flows)
				if err := w.WriteFlow(&g); err != nil {
					t.Fatal(err)
				}
			}
		}
		runtime.ReadMemStats(&after)
		if err := w.Close(fixtureInputs(), fixtureStats()); err != nil {
			t.Fatal(err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	var held, streamed bytes.Buffer
	w := NewWriter(&held, Text, Options{All: true})
	allocated := write(w)
	write(NewWriter(&streamed, Text, Options{All: true, TextBuffer: -1}))
	if held.Len() < 3*heldChunk {
		t.Fatalf("%d bytes written, want over %d", held.Len(), 3*heldChunk)
	}
	// Streamed: the blocks, then the summary. Held: the summary, a blank
	// line, the blocks.
	a, b := held.String(), streamed.String()
	i := strings.Index(b, "teardown: 1 input")
	if i <= 0 || a != b[i:]+"\n"+b[:i] {
		t.Errorf("held, the output is not the streamed output with its summary moved first")
	}
	if limit := uint64(held.Len()) * 5 / 4; allocated > limit {
		t.Errorf("holding %d bytes allocated %d, want at most %d", held.Len(), allocated, limit)
	}
}

func TestColor(t *testing.T) {
	out := string(render(t, Text, Options{Color: true}, emitOrder(fixtureFlows()), fixtureInputs()))
	if want := sgrBold + sgrRed + "rst-abort" + sgrReset; !strings.Contains(out, want) {
		t.Errorf("colour output lacks %q", want)
	}
	lines := map[string]string{} // frame number -> line
	for _, l := range strings.Split(out, "\n") {
		plain := l
		for _, sgr := range []string{sgrReset, sgrBold, sgrDim, sgrRed, sgrGreen, sgrYellow, sgrBlue, sgrMagenta, sgrCyan} {
			plain = strings.ReplaceAll(plain, sgr, "")
		}
		if f := strings.Fields(plain); len(f) > 2 {
			lines[f[0]] = l
		}
	}
	tests := []struct{ frame, sgr string }{
		{"31", sgrRed},    // RST of flow 3
		{"39", sgrRed},    // RST of flow 4
		{"52", sgrYellow}, // retransmitted FIN of flow 6
		{"76", sgrMagenta},
		{"50", ""},
	}
	for _, tt := range tests {
		l, ok := lines[tt.frame]
		if !ok {
			t.Errorf("no ladder line for frame %s", tt.frame)
			continue
		}
		if tt.sgr == "" {
			if strings.Contains(l, "\x1b") {
				t.Errorf("frame %s: line %q is coloured", tt.frame, l)
			}
		} else if !strings.HasPrefix(l, tt.sgr) || !strings.HasSuffix(l, sgrReset) {
			t.Errorf("frame %s: line %q is not wrapped in %q", tt.frame, l, tt.sgr)
		}
	}
	plain := string(render(t, Text, Options{}, emitOrder(fixtureFlows()), fixtureInputs()))
	if strings.Contains(plain, "\x1b") {
		t.Error("output without Color has an escape character")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	for _, format := range []Format{Text, JSON, NDJSON} {
		w := NewWriter(&failWriter{n: 0}, format, Options{TextBuffer: -1, All: true})
		var err error
		for _, f := range fixtureFlows() {
			if err = w.WriteFlow(f); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Close(fixtureInputs(), fixtureStats())
		} else if err2 := w.Close(nil, analyzer.Stats{}); err2 == nil {
			t.Errorf("%s: Close after a failed write returned nil", format)
		}
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: err = %v, want disk full", format, err)
		}
		if err := w.WriteFlow(fixtureFlows()[0]); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: WriteFlow after Close = %v, want ErrClosed", format, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{Text, JSON, NDJSON, Markdown, HTML} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("ParseFormat(yaml) did not fail")
	}
	paths := map[string]Format{"x.json": JSON, "X.JSON": JSON, "a/b.ndjson": NDJSON, "c.jsonl": NDJSON, "r.txt": Text,
		"t.md": Markdown, "t.markdown": Markdown, "p.html": HTML, "P.HTM": HTML}
	for p, want := range paths {
		if got, ok := FormatForPath(p); !ok || got != want {
			t.Errorf("FormatForPath(%q) = %v, %v; want %v", p, got, ok, want)
		}
	}
	for _, p := range []string{"out.pcapng", "out", "out.pdf"} {
		if _, ok := FormatForPath(p); ok {
			t.Errorf("FormatForPath(%s) guessed a format", p)
		}
	}
}

func TestFmtSeconds(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{0, "0.000000"},
		{1, "0.000000"},
		{499, "0.000000"},
		{500, "0.000001"},
		{1_250_000_000, "1.250000"},
		{-1000, "-0.000001"},
		{-1, "0.000000"},
		{75_000_000_000, "75.000000"},
	}
	for _, tt := range tests {
		if got := fmtSeconds(tt.ns); got != tt.want {
			t.Errorf("fmtSeconds(%d) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

// Unknown enum values must render, not panic or fail the encoding.
func TestUnknownValues(t *testing.T) {
	f := fixtureFlows()[0]
	f.Class = analyzer.Class(200)
	f.Vantage = analyzer.Vantage(9)
	f.Events[0].Client = analyzer.State(99)
	f.Events[0].File = 7
	for _, format := range []Format{Text, JSON, NDJSON} {
		out := string(render(t, format, Options{Inputs: []string{"a", "b"}}, []*analyzer.Flow{f}, fixtureInputs()))
		for _, want := range []string{"Class(200)", "State(99)", "input#7"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q", format, want)
			}
		}
	}
}

func TestFrameNamer(t *testing.T) {
	one := FrameNamer([]string{"a.pcap"})
	two := FrameNamer([]string{"a.pcap", "b.pcap"})
	tests := []struct {
		name func(analyzer.FrameRef) string
		ref  analyzer.FrameRef
		want string
	}{
		{one, analyzer.FrameRef{Frame: 12}, "12"},
		{one, analyzer.FrameRef{}, "?"},
		{two, analyzer.FrameRef{File: 1, Frame: 3}, "b.pcap:3"},
		{two, analyzer.FrameRef{File: 0, Frame: 12}, "a.pcap:12"},
		{two, analyzer.FrameRef{File: 5, Frame: 1}, "input#5:1"},
	}
	for _, tt := range tests {
		if got := tt.name(tt.ref); got != tt.want {
			t.Errorf("cite %+v = %q, want %q", tt.ref, got, tt.want)
		}
	}
}
