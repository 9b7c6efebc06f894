//go:build linux

package netlab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"teardown/analyzer"
)

const goodExpect = `{"capture": "x.pcap", "scenario": "s", "description": "d", "vantage": "client",
 "format": "pcap", "link": "ethernet",
 "flows": [{"client": "198.18.0.1:40000", "server": "198.18.0.2:8080", "incarnation": 1,
            "class": "four-way", "flags": ["piggybacked-fin"], "active_closer": "client",
            "frames": {"first_fin": 5}},
           {"client": "[2001:db8::1]:40000", "server": "[2001:db8::2]:8080", "incarnation": 2,
            "class": "late-duplicate", "flags": [], "active_closer": "none", "frames": {}}]}`

func TestParseExpectation(t *testing.T) {
	e, err := ParseExpectation([]byte(goodExpect))
	if err != nil {
		t.Fatal(err)
	}
	f := e.Flow("198.18.0.1:40000", "198.18.0.2:8080", 1)
	if f == nil || f.Class != "four-way" || f.Frames["first_fin"] != 5 || !SameFlags(f.Flags, []string{"piggybacked-fin"}) {
		t.Errorf("flow = %+v", f)
	}
	if e.Flow("[2001:db8::1]:40000", "[2001:db8::2]:8080", 2) == nil {
		t.Error("IPv6 flow not found")
	}
	for name, bad := range map[string]string{
		"unknown class":   strings.Replace(goodExpect, `"four-way"`, `"fourway"`, 1),
		"unknown flag":    strings.Replace(goodExpect, `"piggybacked-fin"`, `"piggyback"`, 1),
		"unknown field":   strings.Replace(goodExpect, `"incarnation": 1,`, `"incarnation": 1, "clas": "x",`, 1),
		"bad vantage":     strings.Replace(goodExpect, `"vantage": "client"`, `"vantage": "near"`, 1),
		"bad address":     strings.Replace(goodExpect, `198.18.0.1:40000`, `198.18.0.1`, 1),
		"bad closer":      strings.Replace(goodExpect, `"active_closer": "client"`, `"active_closer": "me"`, 1),
		"frame zero":      strings.Replace(goodExpect, `"first_fin": 5`, `"first_fin": 0`, 1),
		"incarnation 0":   strings.Replace(goodExpect, `"incarnation": 1`, `"incarnation": 0`, 1),
		"duplicate flow":  strings.Replace(goodExpect, `"incarnation": 2`, `"incarnation": 1`, 1) + "",
		"not json at all": `capture: x`,
	} {
		if name == "duplicate flow" {
			bad = strings.Replace(strings.Replace(bad, "[2001:db8::1]:40000", "198.18.0.1:40000", 1), "[2001:db8::2]:8080", "198.18.0.2:8080", 1)
		}
		if _, err := ParseExpectation([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWriteReadExpectation(t *testing.T) {
	e, err := ParseExpectation([]byte(goodExpect))
	if err != nil {
		t.Fatal(err)
	}
	e.Flows[0].Flags = []string{"half-close", "fin-retransmit"}
	p := filepath.Join(t.TempDir(), "x.expect.json")
	if err := WriteExpectation(p, e); err != nil {
		t.Fatal(err)
	}
	back, err := ReadExpectation(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Flows[0].Flags, []string{"fin-retransmit", "half-close"}) {
		t.Errorf("flags not sorted: %v", back.Flows[0].Flags)
	}
	if ExpectPath("a/b.client.pcapng") != "a/b.client.expect.json" || ExpectPath("showcase.pcap") != "showcase.expect.json" {
		t.Error("ExpectPath")
	}
}

// The names the expectation files use are the analyzer's API names.
func TestNamesMatchAnalyzer(t *testing.T) {
	for _, c := range Classes {
		if _, err := analyzer.ParseClass(c); err != nil {
			t.Error(err)
		}
	}
	if len(Classes) != len(analyzer.Classes()) {
		t.Errorf("%d classes, analyzer has %d", len(Classes), len(analyzer.Classes()))
	}
	if !slices.Equal(FlagNames, analyzer.FlagNames()) {
		t.Errorf("flags %v, analyzer has %v", FlagNames, analyzer.FlagNames())
	}
}

func TestCompareVerdicts(t *testing.T) {
	e, err := ParseExpectation([]byte(goodExpect))
	if err != nil {
		t.Fatal(err)
	}
	good := []Verdict{
		{Client: "198.18.0.1:40000", Server: "198.18.0.2:8080", Incarnation: 1, Class: "four-way", Flags: []string{"piggybacked-fin"}, ActiveCloser: "client", Frames: map[string]int{"first_fin": 5}},
		{Client: "[2001:db8::1]:40000", Server: "[2001:db8::2]:8080", Incarnation: 2, Class: "late-duplicate", ActiveCloser: "none"},
	}
	if p := CompareVerdicts(e, good); len(p) != 0 {
		t.Errorf("good verdicts: %v", p)
	}
	bad := slices.Clone(good[:1])
	bad[0].Class = "simultaneous"
	bad[0].Frames = map[string]int{"first_fin": 6}
	if p := CompareVerdicts(e, bad); len(p) != 3 { // class, frame, missing flow
		t.Errorf("bad verdicts: %v", p)
	}
}

// Every committed expectation parses, names an existing capture, and its
// decisive frames are TCP segments of that flow.
func TestCommittedExpectations(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcaps")
	paths, err := filepath.Glob(filepath.Join(dir, "*.expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 40 {
		t.Fatalf("only %d expectation files in %s", len(paths), dir)
	}
	classes := map[string]bool{}
	for _, p := range paths {
		e, err := ReadExpectation(p)
		if err != nil {
			t.Error(err)
			continue
		}
		pkts, err := ReadCapture(filepath.Join(dir, e.Capture))
		if err != nil {
			t.Error(err)
			continue
		}
		byFrame := map[int]Packet{}
		for _, pk := range pkts {
			byFrame[pk.Frame] = pk
		}
		for _, f := range e.Flows {
			classes[f.Class] = true
			for k, n := range f.Frames {
				pk, ok := byFrame[n]
				if !ok {
					t.Errorf("%s: %s -> %s: frame %s=%d is not a TCP segment", e.Capture, f.Client, f.Server, k, n)
					continue
				}
				c, s := pk.Src.String(), pk.Dst.String()
				if !((c == f.Client && s == f.Server) || (s == f.Client && c == f.Server)) {
					t.Errorf("%s: frame %s=%d belongs to %s -> %s, not %s -> %s", e.Capture, k, n, c, s, f.Client, f.Server)
				}
			}
		}
	}
	for _, c := range Classes {
		if !classes[c] {
			t.Errorf("no committed capture has a flow of class %s", c)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "showcase.pcap")); err != nil {
		t.Error(err)
	}
}
