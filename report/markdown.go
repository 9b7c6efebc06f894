package report

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"teardown/analyzer"
	"teardown/capture"
)

// maxDocSections is how many flow sections the markdown and html formats
// hold for the end of the report; later flows are counted, not shown.
const maxDocSections = 1000

// docState is what the markdown and html formats hold until Close: the
// rendered sections of the shown flows (in arrival order) and, for html,
// one table row per selected flow.
type docState struct {
	sections []heldBlock
	dropped  int64 // shown flows beyond maxDocSections
	rows     []htmlRow
	rowsCut  int64 // selected flows beyond maxHTMLRows
}

// writeDocFlow renders one flow for the markdown or html format.
func (w *Writer) writeDocFlow(f *analyzer.Flow, shown bool) {
	if w.fmt == HTML {
		w.addHTMLRow(f, shown)
	}
	if !shown {
		return
	}
	if len(w.doc.sections) >= maxDocSections {
		w.doc.dropped++
		return
	}
	var b []byte
	if w.fmt == HTML {
		b = w.renderHTMLFlow(f)
	} else {
		b = w.renderMarkdownFlow(f)
	}
	w.doc.sections = append(w.doc.sections, heldBlock{id: f.ID, text: b})
}

// mdEscape makes a string from a capture safe inside Markdown text and
// table cells. Control characters are escaped by Sanitize; then the
// characters that form inline markup in CommonMark and GitHub Flavored
// Markdown (backslash, backtick, * _ ~, [ ], < >, &, |) are
// backslash-escaped, as is a leading punctuation character (a heading,
// list or quote marker), and "://" and "www." are broken up so that no
// autolink forms. So no link, image, emphasis, code span, HTML tag, entity
// or table cell boundary can come from the input.
func mdEscape(s string) string {
	s = Sanitize(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '_', '~', '[', ']', '<', '>', '&', '|':
			b.WriteByte('\\')
		default:
			if i == 0 && c < 0x80 && strings.IndexByte("!\"#$%'()+,-./:;=?@^{}", c) >= 0 {
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
	}
	out := b.String()
	out = strings.ReplaceAll(out, "://", ":\\/\\/")
	out = strings.ReplaceAll(out, "www.", "www\\.")
	out = strings.ReplaceAll(out, "WWW.", "WWW\\.")
	return out
}

// longestRun returns the length of the longest run of backticks in s.
func longestRun(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// fence returns a backtick fence longer than any run of backticks in s
// (at least three), so that s cannot close the fenced block.
func fence(s string) string { return strings.Repeat("`", max(3, longestRun(s)+1)) }

// codeSpan returns s (sanitized) as a Markdown code span, delimited by a
// backtick run longer than any inside it. A pipe is written \| so that the
// span can sit in a table cell (GitHub renders it as |).
func codeSpan(s string) string {
	s = strings.ReplaceAll(Sanitize(s), "|", `\|`)
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	f := strings.Repeat("`", longestRun(s)+1)
	return f + " " + s + " " + f
}

// wiresharkFilters returns the display filters that isolate a flow: by
// stream index (valid for this capture as Wireshark opens it) and by
// addresses and ports (valid after merging or filtering files).
func wiresharkFilters(f *analyzer.Flow) (stream, tuple string) {
	stream = "tcp.stream eq " + strconv.Itoa(f.Stream)
	field := "ip.addr"
	if !f.Client.Addr.Is4() {
		field = "ipv6.addr"
	}
	tuple = fmt.Sprintf("%s==%s && tcp.port==%d && %s==%s && tcp.port==%d",
		field, f.Client.Addr, f.Client.Port, field, f.Server.Addr, f.Server.Port)
	return stream, tuple
}

// renderMarkdownFlow renders one flow's section.
func (w *Writer) renderMarkdownFlow(f *analyzer.Flow) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### Flow %d: %s, %s → %s\n\n", f.ID, f.Class, f.Client, f.Server)
	if f.Verdict != "" {
		fmt.Fprintf(&b, "> %s\n\n", mdEscape(f.Verdict))
	}
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, v)
		}
	}
	row("Class", "**"+f.Class.String()+"**")
	if fl := f.Flags.Strings(); len(fl) > 0 {
		row("Flags", strings.Join(fl, ", "))
	}
	row("Stream, incarnation", fmt.Sprintf("%d, %d", f.Stream, f.Incarnation))
	row("Frames", mdEscape(citeFrame(w.opts.Inputs, f.First)+" to "+citeFrame(w.opts.Inputs, f.Last)))
	row("Packets (client, server)", fmt.Sprintf("%d, %d; payload bytes %d, %d", f.Packets[0], f.Packets[1], f.Bytes[0], f.Bytes[1]))
	row("Time", fmt.Sprintf("%s, for %s s", fmtTime(f.FirstAt), fmtSeconds(f.LastAt-f.FirstAt)))
	row("Community ID", codeSpan(flowCommunityID(f)))
	row("Active closer", f.ActiveCloser.String())
	v := f.Vantage.String()
	if f.VantageWhy != "" {
		v += " (" + mdEscape(f.VantageWhy) + ")"
	}
	row("Vantage", v)
	if f.DirGuessed {
		row("Direction", "no handshake: client and server guessed from the ports")
	}
	if r := f.Reset; r != nil {
		s := fmt.Sprintf("by the %s at frame %s", r.By&1, mdEscape(citeFrame(w.opts.Inputs, r.Frame)))
		if r.Cause != "" {
			s += "; likely cause: " + mdEscape(r.Cause)
		}
		if r.Evidence != "" {
			s += "; evidence: " + mdEscape(r.Evidence)
		}
		row("Reset", s)
	}
	if d := f.LateDuplicate; d != nil {
		s := fmt.Sprintf("frame %s belongs to incarnation %d", mdEscape(citeFrame(w.opts.Inputs, d.Frame)), d.FromIncarnation)
		if d.Answer != "" {
			s += "; answered: " + mdEscape(d.Answer)
		}
		row("Late duplicate", s)
	}
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			row("TIME_WAIT", fmt.Sprintf("%s %s until %s", side, endpoint(f, side), fmtTime(u)))
		}
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		row("Stuck", fmt.Sprintf("%s %s in %s for %s s (peer in %s)", side, endpoint(f, side),
			f.FinalState[side], fmtSeconds(f.StuckFor), f.FinalState[side.Other()]))
	}
	stream, tuple := wiresharkFilters(f)
	row("Wireshark filter", codeSpan(stream)+" or "+codeSpan(tuple))
	b.WriteByte('\n')
	if len(f.Events) > 0 {
		ladder := string(w.appendLadder(nil, f))
		fc := fence(ladder)
		fmt.Fprintf(&b, "%s\n%s%s\n\n", fc, ladder, fc)
	}
	return b.Bytes()
}

// closeMarkdown writes the whole Markdown document.
func (w *Writer) closeMarkdown(inputs []capture.Input) {
	s := &w.sum
	var b bytes.Buffer
	b.WriteString("# teardown report\n\n")

	var frames int64
	var first, last int64
	for _, in := range inputs {
		frames += in.Frames
		if in.FirstAt != 0 && (first == 0 || in.FirstAt < first) {
			first = in.FirstAt
		}
		last = max(last, in.LastAt)
	}
	fmt.Fprintf(&b, "%s, %s, %s, %s.", plural(int64(len(inputs)), "input"), plural(frames, "frame"),
		plural(s.segments, "TCP segment"), plural(s.flows, "flow"))
	if first != 0 {
		fmt.Fprintf(&b, " From %s to %s (%s s).", fmtTime(first), fmtTime(last), fmtSeconds(last-first))
	}
	b.WriteString("\n\n## What was analysed\n\n")
	b.WriteString("| File | Format | Link types | Frames | TCP | Other | Fragments | Truncated | First frame | Last frame |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|---|---|\n")
	for _, in := range inputs {
		lt := make([]string, len(in.LinkTypes))
		for i, t := range in.LinkTypes {
			lt[i] = mdEscape(t)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d | %s | %s |\n",
			mdEscape(in.Name), mdEscape(cmp.Or(in.Format, "?")), strings.Join(lt, ", "),
			in.Frames, in.TCP, in.NonTCP, in.Fragments, in.Truncated, optTimeText(in.FirstAt), optTimeText(in.LastAt))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Vantage point (inferred per flow): %s.\n\n", w.find.vantageText())

	if s.flows > 0 {
		b.WriteString("## Flows by class\n\n| Class | Flows |\n|---|--:|\n")
		for _, c := range analyzer.Classes() {
			if n := s.classes[c]; n > 0 {
				fmt.Fprintf(&b, "| %s | %d |\n", c, n)
			}
		}
		if len(s.flags) > 0 {
			b.WriteString("\n| Flag | Flows |\n|---|--:|\n")
			for _, n := range analyzer.FlagNames() {
				if v := s.flags[n]; v > 0 {
					fmt.Fprintf(&b, "| %s | %d |\n", n, v)
				}
			}
		}
		b.WriteString("\n")
	}

	if len(w.findings) > 0 {
		b.WriteString("## Findings\n\n")
		for _, f := range w.findings {
			fmt.Fprintf(&b, "### %s: %s\n\n", f.Severity, mdEscape(f.Title))
			for _, it := range f.Items {
				fmt.Fprintf(&b, "- %s: %s%s\n", codeSpan(it.Subject), mdEscape(it.Detail), flowsSuffix(it.Flows))
			}
			if f.More > 0 {
				fmt.Fprintf(&b, "- and %d more (see the json report)\n", f.More)
			}
			fmt.Fprintf(&b, "\n**What it means:** %s\n\n**What to do:** %s\n\n", mdEscape(f.Meaning), mdEscape(f.Fix))
		}
	}

	b.WriteString("## Flows\n\n")
	b.WriteString(w.shownSentence())
	b.WriteString("\n\n")
	w.write(b.Bytes())
	slices.SortStableFunc(w.doc.sections, func(a, b heldBlock) int { return cmp.Compare(a.id, b.id) })
	for _, h := range w.doc.sections {
		w.write(h.text)
	}
	w.doc.sections = nil
}

// shownSentence says which flows the report shows.
func (w *Writer) shownSentence() string {
	s := &w.sum
	var out string
	switch {
	case s.flows == 0:
		out = "No TCP flows."
	case s.shown == 1 && s.flows == 1:
		out = "Showing the only flow."
	case s.shown == s.flows:
		out = fmt.Sprintf("Showing all %s.", plural(s.flows, "flow"))
	case w.opts.All || w.opts.Filter.explicit():
		out = fmt.Sprintf("Showing %d of %s (selected by --class, --flow or --stream).", s.shown, plural(s.flows, "flow"))
	default:
		out = fmt.Sprintf("Showing %d of %s; four-way and open flows are hidden (--all shows them).", s.shown, plural(s.flows, "flow"))
	}
	if w.doc.dropped > 0 {
		out += fmt.Sprintf(" Only the first %d are drawn; %d more are left out (narrow the report with --class, --flow or --stream).",
			maxDocSections, w.doc.dropped)
	}
	return out
}

func optTimeText(ns int64) string {
	if ns == 0 {
		return ""
	}
	return fmtTime(ns)
}

// vantageText counts flows per inferred vantage point: "server (12
// flows), unknown (1 flow)".
func (fs *findings) vantageText() string {
	var parts []string
	for v := analyzer.VantageUnknown; v <= analyzer.VantageMiddle; v++ {
		if n := fs.vantage[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s (%s)", v, plural(n, "flow")))
		}
	}
	if len(parts) == 0 {
		return "no flows"
	}
	return strings.Join(parts, ", ")
}
