package report

import (
	"strings"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
)

// markup is a payload for the document formats: HTML, a script, a
// javascript: link, Markdown code fences and table pipes, and terminal
// escapes.
const markup = "<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3))" +
	"```\n| a | b |`code` **b** _i_ &amp; http://evil.example/ www.evil.example \x1b]8;;http://x\x07link\x1b]8;;\x07\x1b[31m"

// markupFlow is a flow whose capture-derived strings all hold markup.
func markupFlow() *analyzer.Flow {
	f := fixtureFlows()[2] // rst-abort: has Reset
	f.Verdict = markup
	f.VantageWhy = markup
	f.Reset.Cause = markup
	f.Reset.Evidence = markup
	f.Decisive[markup] = f.First
	f.Events[0].Notes = []string{markup, "retransmission"}
	f.LateDuplicate = &analyzer.LateDupInfo{Frame: f.First, FromIncarnation: 1, Answer: markup}
	return f
}

func markupInputs() []capture.Input {
	in := fixtureInputs()
	in[0].Name = markup
	in[0].Format = markup
	in[0].LinkTypes = []string{markup}
	return in
}

// mdOutsideCode returns the lines of a Markdown document that are not in
// a fenced code block, and checks that every fence is closed by a fence of
// the same character at least as long.
func mdOutsideCode(t *testing.T, doc string) []string {
	t.Helper()
	var out []string
	open := ""
	for _, l := range strings.Split(doc, "\n") {
		trim := strings.TrimLeft(l, "`")
		n := len(l) - len(trim)
		switch {
		case open == "" && n >= 3:
			open = l[:n]
		case open != "" && n >= len(open) && strings.TrimSpace(trim) == "":
			open = ""
		case open == "":
			out = append(out, l)
		}
	}
	if open != "" {
		t.Errorf("fenced block opened with %s is never closed", open)
	}
	return out
}

// unescaped reports whether s holds c not preceded by a backslash (an odd
// number of them).
func unescaped(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			continue
		}
		bs := 0
		for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return true
		}
	}
	return false
}

func TestMarkdownHostile(t *testing.T) {
	out := string(render(t, Markdown, Options{Inputs: []string{markup, "b" + markup}, All: true},
		[]*analyzer.Flow{markupFlow()}, markupInputs()))
	if bad := terminalSafe(out, false); bad != "" {
		t.Errorf("markdown carries %q unescaped", bad)
	}
	lines := mdOutsideCode(t, out)
	for _, l := range lines {
		// Code spans are ours (addresses, community ids, filters): drop
		// them before looking for markup.
		for {
			i := strings.Index(l, "`")
			if i < 0 || (i > 0 && l[i-1] == '\\') {
				break
			}
			j := strings.Index(l[i+1:], "`")
			if j < 0 {
				t.Errorf("unbalanced code span in %q", l)
				break
			}
			l = l[:i] + l[i+1+j+1:]
		}
		for _, c := range []byte{'<', '>', '[', ']', '`', '*', '_', '&'} {
			if unescaped(l, c) && !ourMarkup(l, c) {
				t.Errorf("line carries an unescaped %q: %q", c, l)
			}
		}
		if strings.HasPrefix(l, "|") {
			cells := 0
			for i := 1; i < len(l); i++ {
				if l[i] == '|' && l[i-1] != '\\' {
					cells++
				}
			}
			if cells != 2 && !strings.Contains(l, "File") && !strings.Contains(l, "---") && !strings.HasPrefix(l, "| "+"\\") {
				t.Errorf("table row has %d cells: %q", cells, l)
			}
		}
		if strings.Contains(l, "http://") || strings.Contains(l, "www.evil") {
			t.Errorf("an autolink can form: %q", l)
		}
	}
	for _, want := range []string{`\<script\>`, `\[x\](javascript:alert(3))`} {
		if !strings.Contains(out, want) {
			t.Errorf("escaped payload %q not found in:\n%s", want, out)
		}
	}
}

// ourMarkup reports whether an unescaped c on line l is markup the writer
// itself produces: bold labels, the "→" heading, "**class**".
func ourMarkup(l string, c byte) bool {
	switch c {
	case '*':
		return strings.Contains(l, "**")
	case '>':
		return strings.HasPrefix(l, "> ")
	}
	return false
}

func TestMarkdownFence(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "```"}, {"a ``` b", "````"}, {"`````", "``````"},
	} {
		if got := fence(tt.in); got != tt.want {
			t.Errorf("fence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := codeSpan("a`b|c"); got != "`` a`b\\|c ``" {
		t.Errorf("codeSpan = %q", got)
	}
}

func TestWiresharkFilters(t *testing.T) {
	f := &analyzer.Flow{Stream: 7, Client: ap("198.18.0.1:40000"), Server: ap("198.18.0.2:80")}
	s, tu := wiresharkFilters(f)
	if s != "tcp.stream eq 7" || tu != "ip.addr==198.18.0.1 && tcp.port==40000 && ip.addr==198.18.0.2 && tcp.port==80" {
		t.Errorf("IPv4 filters: %q, %q", s, tu)
	}
	f = &analyzer.Flow{Client: ap("[2001:db8::1]:40000"), Server: ap("[2001:db8::2]:443")}
	if _, tu = wiresharkFilters(f); tu != "ipv6.addr==2001:db8::1 && tcp.port==40000 && ipv6.addr==2001:db8::2 && tcp.port==443" {
		t.Errorf("IPv6 filter: %q", tu)
	}
}

func TestMarkdownGolden(t *testing.T) {
	checkGolden(t, "markdown.md", render(t, Markdown, Options{Inputs: []string{"capture.pcap"}}, emitOrder(fixtureFlows()), fixtureInputs()))
}

// The markup payload stays inert in the text and json formats too: no
// terminal escape, and JSON that decodes back to it.
func TestMarkupTextJSON(t *testing.T) {
	for _, f := range []Format{Text, JSON, NDJSON} {
		out := string(render(t, f, Options{Inputs: []string{markup, "b" + markup}, All: true}, []*analyzer.Flow{markupFlow()}, markupInputs()))
		if bad := terminalSafe(out, false); bad != "" {
			t.Errorf("%s carries %q unescaped", f, bad)
		}
	}
}
