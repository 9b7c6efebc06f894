package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden that exist")

// teardown runs the command and returns its exit status, stdout and stderr.
func teardown(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// requireCapture skips tests that need the capture reader while it is
// still a stub that accepts any name.
func requireCapture(t *testing.T) {
	t.Helper()
	r, err := capture.Open([]string{filepath.Join(t.TempDir(), "no-such.pcap")}, nil)
	if err == nil {
		if r != nil {
			r.Close()
		}
		t.Skip("capture.Open is still a stub: it accepts a missing file")
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		code, out, errOut := teardown(t, arg)
		if code != 0 {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		if errOut != "" {
			t.Errorf("%s: stderr %q, want nothing", arg, errOut)
		}
		for _, want := range []string{"Usage: teardown", "--format", "--fail-on", "--time-wait", "Exit status"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: usage lacks %q", arg, want)
			}
		}
		for _, c := range analyzer.Classes() {
			if !strings.Contains(out, "  "+c.String()+" ") {
				t.Errorf("%s: usage does not list class %s", arg, c)
			}
		}
	}
}

func TestClassHelpComplete(t *testing.T) {
	for _, c := range analyzer.Classes() {
		if classHelp[c] == "" {
			t.Errorf("class %s has no description in classHelp", c)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no file", nil, "no capture file"},
		{"bad flag", []string{"--bogus", "x.pcap"}, "unknown flag: --bogus"},
		{"bad shorthand", []string{"-z", "x.pcap"}, "unknown shorthand flag"},
		{"unknown class", []string{"--class", "four-way,nope", "x.pcap"}, `--class: unknown class "nope"`},
		{"unknown fail-on class", []string{"--fail-on=rst", "x.pcap"}, `--fail-on: unknown class "rst"`},
		{"bad format", []string{"--format", "xml", "x.pcap"}, `--format: unknown format "xml"`},
		{"bad flow", []string{"--flow", "0", "x.pcap"}, "--flow: flow ids start at 1"},
		{"bad flow type", []string{"--flow", "abc", "x.pcap"}, "--flow"},
		{"bad stream", []string{"--stream", "-1", "x.pcap"}, "--stream"},
		{"bad time-wait", []string{"--time-wait", "0s", "x.pcap"}, "--time-wait: must be positive"},
		{"bad duration", []string{"--time-wait", "soon", "x.pcap"}, "--time-wait"},
		{"stdin twice", []string{"-", "-"}, "standard input"},
		{"hostile class", []string{"--class", "\x1b]0;pwned\a", "x.pcap"}, "unknown class"},
		{"hostile flag", []string{"--flow", "1", "--bogus\x1b[2J"}, `--bogus\x1b[2J`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := teardown(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "teardown: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q, want teardown: ...%s...", errOut, tt.want)
			}
			if strings.ContainsAny(errOut, "\x1b\a") {
				t.Errorf("stderr carries a control character: %q", errOut)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args   []string
		format report.Format
	}{
		{[]string{"a.pcap"}, report.Text},
		{[]string{"-o", "out.json", "a.pcap"}, report.JSON},
		{[]string{"-o", "out.ndjson", "a.pcap"}, report.NDJSON},
		{[]string{"-o", "out.report", "a.pcap"}, report.Text},
		{[]string{"-o", "out.json", "-F", "text", "a.pcap"}, report.Text},
		{[]string{"--format=ndjson", "a.pcap"}, report.NDJSON},
	}
	for _, tt := range tests {
		o, err := parseArgs(newFlagSet(), tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if o.format != tt.format {
			t.Errorf("%q: format %v, want %v", tt.args, o.format, tt.format)
		}
	}

	o, err := parseArgs(newFlagSet(), []string{"--class", "rst-abort", "--class", "lost-ack,close-wait", "--stream", "0",
		"--flow", "3", "--fail-on", "refused", "--time-wait", "30s", "--all", "--no-color", "a.pcap", "-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.filter.Classes) != 3 || o.filter.Classes[2] != analyzer.ClassCloseWait {
		t.Errorf("classes = %v", o.filter.Classes)
	}
	if o.filter.Stream == nil || *o.filter.Stream != 0 || o.filter.FlowID != 3 {
		t.Errorf("filter = %+v", o.filter)
	}
	if len(o.failOn) != 1 || o.failOn[0] != analyzer.ClassRefused || o.timeWait.Seconds() != 30 || !o.all || !o.noColor {
		t.Errorf("options = %+v", o)
	}
	if len(o.files) != 2 || o.files[1] != "-" {
		t.Errorf("files = %q", o.files)
	}

	o, err = parseArgs(newFlagSet(), []string{"a.pcap"})
	if err != nil {
		t.Fatal(err)
	}
	if o.filter.Stream != nil || o.filter.FlowID != 0 || len(o.failOn) != 0 || o.timeWait.Seconds() != 60 {
		t.Errorf("defaults: %+v", o)
	}
}

func TestMissingFile(t *testing.T) {
	requireCapture(t)
	name := filepath.Join(t.TempDir(), "missing.pcap")
	code, out, errOut := teardown(t, name)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if !strings.HasPrefix(errOut, "teardown: ") || !strings.Contains(errOut, name) {
		t.Errorf("stderr %q does not name %s", errOut, name)
	}
}

// A missing input must not clobber an existing -o file.
func TestMissingFileKeepsOutput(t *testing.T) {
	requireCapture(t)
	dir := t.TempDir()
	outName := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(outName, []byte("earlier report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := teardown(t, "-o", outName, filepath.Join(dir, "missing.pcap")); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if b, _ := os.ReadFile(outName); string(b) != "earlier report\n" {
		t.Errorf("output file now holds %q", b)
	}
}

func TestBadFiles(t *testing.T) {
	requireCapture(t)
	dir := t.TempDir()
	files := map[string][]byte{
		"empty.pcap":   nil,
		"garbage.pcap": []byte("this is not a capture file, just some text\n"),
		"short.pcap":   {0xd4, 0xc3, 0xb2}, // a third of the pcap magic
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := teardown(t, p)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.HasPrefix(errOut, "teardown: ") || !strings.Contains(errOut, name) {
				t.Errorf("stderr %q does not name %s", errOut, name)
			}
		})
	}
}

// pcaps lists the shipped captures.
func pcaps(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "..", "testdata", "pcaps", "*.pcap*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Every shipped capture must analyse without an input error, in every
// format, and its JSON must parse.
func TestPcaps(t *testing.T) {
	requireCapture(t)
	for _, p := range pcaps(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			for _, f := range []string{"text", "json", "ndjson"} {
				code, out, errOut := teardown(t, "--all", "--format", f, p)
				if code != 0 {
					t.Errorf("--format %s: exit %d, stderr %q", f, code, errOut)
				}
				if f == "json" && !json.Valid([]byte(out)) {
					t.Errorf("--format json: output is not valid JSON")
				}
			}
		})
	}
}

// TestGolden compares the text and JSON reports of the shipped captures
// with testdata/golden/NAME.txt and NAME.json, where NAME is the capture's
// file name. Only captures with a golden file are checked; -update
// rewrites the golden files that exist. To add one, create an empty
// testdata/golden/NAME.txt (or .json), run go test -update, and check the
// result by hand against the packets before committing it. On a mismatch
// the output is written to NAME.txt.got.
func TestGolden(t *testing.T) {
	formats := []struct{ format, ext string }{{"text", ".txt"}, {"json", ".json"}}
	for _, p := range pcaps(t) {
		name := filepath.Base(p)
		for _, f := range formats {
			golden := filepath.Join("testdata", "golden", name+f.ext)
			if _, err := os.Stat(golden); err != nil {
				continue
			}
			t.Run(name+f.ext, func(t *testing.T) {
				// Golden files always use / in file names.
				arg := "../../testdata/pcaps/" + name
				code, got, errOut := teardown(t, "--all", "--no-color", "--format", f.format, arg)
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					if err := os.WriteFile(golden+".got", []byte(got), 0o644); err != nil {
						t.Error(err)
					}
					t.Errorf("report differs from %s; got written to %s.got", golden, golden)
				} else {
					os.Remove(golden + ".got")
				}
			})
		}
	}
}

func TestWarningText(t *testing.T) {
	w := capture.Warning{File: "a.pcap", Frame: 12, Offset: -1, Msg: "record cut short"}
	got := warningText(w)
	if !strings.Contains(got, "a.pcap") || !strings.Contains(got, "12") || !strings.Contains(got, "record cut short") {
		t.Errorf("warningText = %q", got)
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer is a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

// TestCPUProfile runs teardown with the hidden --cpuprofile flag: the
// report is the same as without it, the file is a pprof profile (gzipped),
// and a file that cannot be created is an input error naming it.
func TestCPUProfile(t *testing.T) {
	pcap := filepath.Join("..", "..", "testdata", "pcaps", "showcase.pcap")
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	_, want, _ := teardown(t, pcap)
	code, out, errOut := teardown(t, "--cpuprofile", prof, pcap)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if out != want {
		t.Errorf("the report differs with --cpuprofile")
	}
	if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("%s is not a gzipped profile (%d bytes, %v)", prof, len(b), err)
	}
	bad := filepath.Join(t.TempDir(), "no-such-dir", "cpu.pprof")
	code, out, errOut = teardown(t, "--cpuprofile", bad, pcap)
	if code != 2 || out != "" || !strings.Contains(errOut, bad) {
		t.Errorf("unwritable profile: exit %d, stdout %d bytes, stderr %q", code, len(out), errOut)
	}
}
