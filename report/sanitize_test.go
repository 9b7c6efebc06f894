package report

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"teardown/analyzer"
	"teardown/capture"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"capture.pcap", "capture.pcap"},
		{`C:\caps\a.pcap`, `C:\caps\a.pcap`},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"line\r\nnext", `line\x0d\x0anext`},
		{"tab\there", `tab\x09here`},
		{"bell\a", `bell\x07`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"c1 \u0085 nel", `c1 \u0085 nel`},
		{"rlo\u202eevil\u202c", `rlo\u202eevil\u202c`},
		{"isolate\u2066x\u2069", `isolate\u2066x\u2069`},
		{"marks\u200e\u200f\u061c", `marks\u200e\u200f\u061c`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"ünïcödé 日本 ✓", "ünïcödé 日本 ✓"},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// hostile is a string a crafted capture could carry: it clears the screen,
// returns the cursor to overwrite a line, rings the bell, sets the window
// title through OSC with a C1 string terminator, and flips the text with a
// bidi override.
const hostile = "evil\x1b[2J\x1b[1;1H\rclean close\a\x1b]0;pwned\x07\u009b31m\u202eesrever\u2066x\u2069\xff"

// terminalSafe reports the first byte sequence in s that a terminal would
// act on, or "".
func terminalSafe(s string, allowSGR bool) string {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
		case r == 0x1b && allowSGR && strings.HasPrefix(s[i:], "\x1b[") && isSGR(s[i:]):
		case r == utf8.RuneError && size == 1:
			return s[i : i+1]
		case r < 0x20 || r == 0x7f || unsafeRune(r):
			return s[i : i+size]
		}
		i += size
	}
	return ""
}

// isSGR reports whether s starts with one of our colour sequences.
func isSGR(s string) bool {
	for _, sgr := range []string{sgrReset, sgrBold, sgrDim, sgrRed, sgrGreen, sgrYellow, sgrBlue, sgrMagenta, sgrCyan} {
		if strings.HasPrefix(s, sgr) {
			return true
		}
	}
	return false
}

func hostileFlow() *analyzer.Flow {
	f := fixtureFlows()[2] // rst-abort: has Reset
	f.Verdict = hostile
	f.VantageWhy = hostile
	f.Reset.Cause = hostile
	f.Reset.Evidence = hostile
	f.Decisive[hostile] = f.First
	f.Events[0].Notes = []string{hostile, "retransmission"}
	f.LateDuplicate = &analyzer.LateDupInfo{Frame: f.First, FromIncarnation: 1, Answer: hostile}
	return f
}

func TestHostileText(t *testing.T) {
	inputs := []capture.Input{{Name: hostile, Format: hostile, LinkTypes: []string{hostile}, FirstAt: base, LastAt: base + s}}
	for _, color := range []bool{false, true} {
		opts := Options{Inputs: []string{hostile, "b" + hostile}, Color: color}
		out := string(render(t, Text, opts, []*analyzer.Flow{hostileFlow()}, inputs))
		if bad := terminalSafe(out, color); bad != "" {
			t.Errorf("color=%v: text output carries %q unescaped:\n%s", color, bad, out)
		}
		if !strings.Contains(out, `evil\x1b[2J\x1b[1;1H\x0dclean close\x07\x1b]0;pwned\x07\u009b31m\u202eesrever\u2066x\u2069\xff`) {
			t.Errorf("color=%v: escaped hostile string not found in:\n%s", color, out)
		}
	}
}

func TestHostileJSON(t *testing.T) {
	inputs := []capture.Input{{Name: hostile, Format: hostile, LinkTypes: []string{hostile}}}
	for _, format := range []Format{JSON, NDJSON} {
		out := string(render(t, format, Options{Inputs: []string{hostile, "b"}}, []*analyzer.Flow{hostileFlow()}, inputs))
		if bad := terminalSafe(out, false); bad != "" {
			t.Errorf("%s output carries %q unescaped", format, bad)
		}
		// The escapes must decode back to the original (with the invalid
		// byte replaced, as encoding/json does).
		first := strings.SplitN(out, "\n", 2)[0]
		if format == JSON {
			first = out
		}
		var v struct {
			Verdict string `json:"verdict"`
			Flows   []struct {
				Verdict string `json:"verdict"`
			} `json:"flows"`
		}
		if err := json.Unmarshal([]byte(first), &v); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got := v.Verdict
		if format == JSON {
			got = v.Flows[0].Verdict
		}
		if want := strings.ToValidUTF8(hostile, "\ufffd"); got != want {
			t.Errorf("%s: verdict decodes to %q, want %q", format, got, want)
		}
	}
}
