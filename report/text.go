package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// ANSI SGR sequences used with Options.Color.
const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrDim     = "\x1b[2m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrBlue    = "\x1b[34m"
	sgrMagenta = "\x1b[35m"
	sgrCyan    = "\x1b[36m"
)

// Text layout limits for the summary.
const (
	maxTWHosts       = 20 // hosts listed under TIME_WAIT
	maxTWSocketsHost = 10 // sockets listed per host
	maxStuck         = 50 // stuck flows listed
)

// paint wraps s in the SGR sequence when colour is on.
func (w *Writer) paint(sgr, s string) string {
	if !w.opts.Color || sgr == "" || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

// classColor is the colour of a class name: red for resets and late
// duplicates, yellow for lost segments, magenta for connections left
// half-closed, green for clean closes.
func classColor(c analyzer.Class) string {
	switch c {
	case analyzer.ClassFourWay, analyzer.ClassSimultaneous:
		return sgrGreen
	case analyzer.ClassRSTAbort, analyzer.ClassRSTAfterClose, analyzer.ClassRefused, analyzer.ClassLateDuplicate:
		return sgrRed
	case analyzer.ClassLostACK, analyzer.ClassLostFIN, analyzer.ClassFINRetransmit:
		return sgrYellow
	case analyzer.ClassCloseWait, analyzer.ClassFINWait:
		return sgrMagenta
	case analyzer.ClassOpen:
		return sgrBlue
	}
	return ""
}

// tsClass reports whether the ladder of a flow of class c shows TCP
// timestamps: they are the evidence for which segment was lost and for old
// incarnations.
func tsClass(c analyzer.Class) bool {
	switch c {
	case analyzer.ClassLostACK, analyzer.ClassLostFIN, analyzer.ClassFINRetransmit, analyzer.ClassLateDuplicate:
		return true
	}
	return false
}

// citeText is cite for text output: file names are sanitized.
func (w *Writer) citeText(r analyzer.FrameRef) string {
	return Sanitize(w.cite(r))
}

// citeRange cites the frames from first to last: "14–23",
// "b.pcap:14–23", "a.pcap:90–b.pcap:3".
func (w *Writer) citeRange(first, last analyzer.FrameRef) string {
	if first.File == last.File && first.Frame > 0 && last.Frame > 0 {
		return w.citeText(first) + dash(w.opts.ASCII) + strconv.FormatInt(last.Frame, 10)
	}
	return w.citeText(first) + dash(w.opts.ASCII) + w.citeText(last)
}

func (w *Writer) arrow(from analyzer.Side) string {
	switch {
	case w.opts.ASCII && from == analyzer.Client:
		return "C --> S"
	case w.opts.ASCII:
		return "C <-- S"
	case from == analyzer.Client:
		return "C ──► S"
	default:
		return "C ◄── S"
	}
}

func (w *Writer) ellipsis() string {
	if w.opts.ASCII {
		return "..."
	}
	return "…"
}

func (w *Writer) writeTextFlow(f *analyzer.Flow) {
	block := w.renderFlow(f)
	if w.streaming {
		w.write(block)
		return
	}
	w.held = append(w.held, heldBlock{id: f.ID, text: block})
	w.heldBytes += len(block)
	if w.heldBytes > w.opts.TextBuffer {
		// Too much to hold: print what we have and stream the rest; the
		// summary comes last.
		w.streaming = true
		w.write(fmt.Appendf(nil, "(Many flows to show: each is printed as its verdict becomes final, and the summary comes last.)\n\n"))
		w.flushHeld()
	}
}

func (w *Writer) flushHeld() {
	slices.SortStableFunc(w.held, func(a, b heldBlock) int { return cmp.Compare(a.id, b.id) })
	for _, h := range w.held {
		w.write(h.text)
	}
	w.held = nil
	w.heldBytes = 0
}

func (w *Writer) closeText(inputs []capture.Input, _ analyzer.Stats) {
	if w.streaming {
		w.flushHeld()
		w.write(w.renderSummary(inputs))
		return
	}
	w.write(w.renderSummary(inputs))
	w.flushHeld()
}

// renderSummary renders the inputs, the flows per class, the sockets left
// in TIME_WAIT and the stuck half-closed flows.
func (w *Writer) renderSummary(inputs []capture.Input) []byte {
	s := &w.sum
	var b bytes.Buffer
	var frames int64
	for _, in := range inputs {
		frames += in.Frames
	}
	fmt.Fprintf(&b, "%s %s, %s, %s, %s\n", w.paint(sgrBold, "teardown:"),
		plural(int64(len(inputs)), "input"), plural(frames, "frame"),
		plural(s.segments, "TCP segment"), plural(s.flows, "flow"))
	for _, in := range inputs {
		fmt.Fprintf(&b, "  %s  %s", Sanitize(in.Name), Sanitize(cmp.Or(in.Format, "?")))
		if len(in.LinkTypes) > 0 {
			lt := make([]string, len(in.LinkTypes))
			for i, t := range in.LinkTypes {
				lt[i] = Sanitize(t)
			}
			fmt.Fprintf(&b, "  %s", strings.Join(lt, ", "))
		}
		fmt.Fprintf(&b, "  %s (%d TCP, %d other, %d fragments, %d truncated)\n",
			plural(in.Frames, "frame"), in.TCP, in.NonTCP, in.Fragments, in.Truncated)
		if in.Live != nil {
			b.WriteString(kernelLine(in.Live))
		}
		if in.FirstAt != 0 || in.LastAt != 0 {
			fmt.Fprintf(&b, "    %s %s %s\n", fmtTime(in.FirstAt), w.ellipsis(), fmtTime(in.LastAt))
		}
	}

	if s.flows > 0 {
		b.WriteString("\nFlows by class\n")
		type row struct {
			c analyzer.Class
			n int64
		}
		var rows []row
		known := map[analyzer.Class]bool{}
		for _, c := range analyzer.Classes() {
			known[c] = true
			if n := s.classes[c]; n > 0 {
				rows = append(rows, row{c, n})
			}
		}
		for _, c := range slices.Sorted(maps.Keys(s.classes)) {
			if !known[c] {
				rows = append(rows, row{c, s.classes[c]})
			}
		}
		width := len("reuse-in-time-wait")
		for _, r := range rows {
			width = max(width, len(r.c.String()))
		}
		for _, r := range rows {
			name := r.c.String()
			fmt.Fprintf(&b, "  %s%s  %6d\n", w.paint(classColor(r.c), name), strings.Repeat(" ", width-len(name)), r.n)
		}
		if len(s.flags) > 0 {
			b.WriteString("Flags\n")
			for _, n := range analyzer.FlagNames() {
				if v := s.flags[n]; v > 0 {
					fmt.Fprintf(&b, "  %-*s  %6d\n", width, n, v)
				}
			}
		}
	}

	if len(s.twAtEnd) > 0 {
		w.renderTimeWait(&b)
	}
	if len(s.stuck) > 0 {
		fmt.Fprintf(&b, "\nHalf-closed at the end of the capture: %s\n", plural(int64(len(s.stuck)), "flow"))
		for i, e := range s.stuck {
			if i == maxStuck {
				fmt.Fprintf(&b, "  %s %d more (see --format json)\n", w.ellipsis(), len(s.stuck)-i)
				break
			}
			fmt.Fprintf(&b, "  %s  %s of flow %d  %s for %s s  (peer %s in %s)\n",
				e.host, e.side, e.flow, w.paint(sgrMagenta, e.state.String()), fmtSeconds(e.dur), e.peer, e.peerState)
		}
	}

	w.renderFindingsText(&b, w.findings)

	if w.fmt == Text {
		b.WriteByte('\n')
		switch {
		case s.flows == 0:
			b.WriteString("No TCP flows.\n")
		case s.shown == 1 && s.flows == 1:
			b.WriteString("Showing the only flow.\n")
		case s.shown == s.flows:
			fmt.Fprintf(&b, "Showing all %s.\n", plural(s.flows, "flow"))
		case w.opts.All || w.opts.Filter.explicit():
			fmt.Fprintf(&b, "Showing %d of %s (selected by --class, --flow or --stream).\n", s.shown, plural(s.flows, "flow"))
		default:
			fmt.Fprintf(&b, "Showing %d of %s; four-way and open flows are hidden (--all shows them).\n", s.shown, plural(s.flows, "flow"))
		}
		if s.shown > 0 && !w.streaming {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// renderTimeWait lists the sockets still in TIME_WAIT when the capture
// ended, grouped by host address.
func (w *Writer) renderTimeWait(b *bytes.Buffer) {
	s := &w.sum
	type group struct {
		addr    reassembly.Addr
		entries []twEntry
		last    int64
	}
	var groups []*group
	for _, e := range s.twAtEnd { // sorted by host
		if len(groups) == 0 || groups[len(groups)-1].addr != e.host.Addr {
			groups = append(groups, &group{addr: e.host.Addr})
		}
		g := groups[len(groups)-1]
		g.entries = append(g.entries, e)
		g.last = max(g.last, e.until)
	}
	fmt.Fprintf(b, "\nTIME_WAIT at the end of the capture (%s): %s on %s\n",
		fmtTime(s.end), plural(int64(len(s.twAtEnd)), "socket"), plural(int64(len(groups)), "host"))
	for i, g := range groups {
		if i == maxTWHosts {
			fmt.Fprintf(b, "  %s %d more hosts (see --format json)\n", w.ellipsis(), len(groups)-i)
			break
		}
		fmt.Fprintf(b, "  %s  %s, the last until %s\n", g.addr, plural(int64(len(g.entries)), "socket"), fmtTime(g.last))
		for j, e := range g.entries {
			if j == maxTWSocketsHost {
				fmt.Fprintf(b, "    %s %d more\n", w.ellipsis(), len(g.entries)-j)
				break
			}
			fmt.Fprintf(b, "    %s  %s of flow %d  until %s\n", e.host, e.side, e.flow, fmtTime(e.until))
		}
	}
}

// renderFlow renders one flow's block: the header and the ladder.
func (w *Writer) renderFlow(f *analyzer.Flow) []byte {
	var b bytes.Buffer
	arrow := " → "
	if w.opts.ASCII {
		arrow = " -> "
	}
	fmt.Fprintf(&b, "%s  %s  %s%s%s", w.paint(sgrBold, fmt.Sprintf("flow %d", f.ID)),
		w.paint(sgrBold+classColor(f.Class), f.Class.String()), f.Client, arrow, f.Server)
	if f.DirGuessed {
		b.WriteString("  (no handshake: client and server guessed from the ports)")
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "  stream %d, incarnation %d, frames %s, %d packets (client %d, server %d), %d+%d payload bytes\n",
		f.Stream, f.Incarnation, w.citeRange(f.First, f.Last),
		f.Packets[0]+f.Packets[1], f.Packets[0], f.Packets[1], f.Bytes[0], f.Bytes[1])
	fmt.Fprintf(&b, "  from %s for %s s\n", fmtTime(f.FirstAt), fmtSeconds(f.LastAt-f.FirstAt))
	fmt.Fprintf(&b, "  community id %s\n", flowCommunityID(f))

	field := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "  %-15s%s\n", label, value)
		}
	}
	if fl := f.Flags.Strings(); len(fl) > 0 {
		field("flags", strings.Join(fl, ", "))
	}
	field("active closer", f.ActiveCloser.String())
	v := f.Vantage.String()
	if f.VantageWhy != "" {
		v += " (" + Sanitize(f.VantageWhy) + ")"
	}
	field("vantage", v)
	field("verdict", Sanitize(f.Verdict))
	if r := f.Reset; r != nil {
		s := fmt.Sprintf("by %s at frame %s", r.By&1, w.citeText(r.Frame))
		if r.Cause != "" {
			s += "; likely cause: " + Sanitize(r.Cause)
		}
		if r.Evidence != "" {
			s += "; evidence: " + Sanitize(r.Evidence)
		}
		field("reset", s)
	}
	if d := f.LateDuplicate; d != nil {
		s := fmt.Sprintf("frame %s belongs to incarnation %d", w.citeText(d.Frame), d.FromIncarnation)
		if d.Answer != "" {
			s += "; answered: " + Sanitize(d.Answer)
			if d.AnswerFrame != nil {
				s += " (frame " + w.citeText(*d.AnswerFrame) + ")"
			}
		}
		field("late duplicate", s)
	}
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			field("TIME_WAIT", fmt.Sprintf("%s %s until %s", side, endpoint(f, side), fmtTime(u)))
		}
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		field("stuck", fmt.Sprintf("%s %s in %s for %s s (peer in %s)", side, endpoint(f, side),
			f.FinalState[side], fmtSeconds(f.StuckFor), f.FinalState[side.Other()]))
	}
	if len(f.Decisive) > 0 {
		keys := slices.Sorted(maps.Keys(f.Decisive))
		slices.SortStableFunc(keys, func(a, b string) int {
			ra, rb := f.Decisive[a], f.Decisive[b]
			return cmp.Or(cmp.Compare(ra.File, rb.File), cmp.Compare(ra.Frame, rb.Frame))
		})
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = Sanitize(k) + " " + w.citeText(f.Decisive[k])
		}
		field("decisive", strings.Join(parts, ", "))
	}
	if len(f.Events) > 0 {
		b.WriteByte('\n')
		w.renderLadder(&b, f)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// renderLadder renders the timeline as aligned columns: frame, time since
// the flow's first frame, direction, flags, relative seq and ack, payload
// length, window, (TCP timestamps for the classes whose evidence they
// are), both endpoints' states after the segment and the notes. With
// colour, RST segments are red, segments of or answering an old
// incarnation magenta, retransmissions and duplicates yellow.
func (w *Writer) renderLadder(b *bytes.Buffer, f *analyzer.Flow) {
	showTS := false
	if tsClass(f.Class) {
		for _, e := range f.Events {
			if e.TSval != 0 || e.TSecr != 0 {
				showTS = true
				break
			}
		}
	}
	header := []string{"frame", "time", "dir", "flags", "seq", "ack", "len", "win"}
	right := []bool{true, true, false, false, true, true, true, true}
	if showTS {
		header = append(header, "tsval", "tsecr")
		right = append(right, true, true)
	}
	header = append(header, "client", "server", "notes")
	right = append(right, false, false, false)

	rows := make([][]string, 0, len(f.Events))
	for _, e := range f.Events {
		ack := ""
		if e.Flags.Has(reassembly.FlagACK) {
			ack = strconv.FormatUint(uint64(e.Ack), 10)
		}
		row := []string{
			w.citeText(e.FrameRef),
			fmtSeconds(e.Rel),
			w.arrow(e.From),
			e.Flags.String(),
			strconv.FormatUint(uint64(e.Seq), 10),
			ack,
			strconv.FormatUint(uint64(e.Len), 10),
			strconv.FormatUint(uint64(e.Win), 10),
		}
		if showTS {
			if e.TSval != 0 || e.TSecr != 0 {
				row = append(row, strconv.FormatUint(uint64(e.TSval), 10), strconv.FormatUint(uint64(e.TSecr), 10))
			} else {
				row = append(row, "", "")
			}
		}
		notes := make([]string, len(e.Notes))
		for i, n := range e.Notes {
			notes[i] = Sanitize(n)
		}
		row = append(row, e.Client.String(), e.Server.String(), strings.Join(notes, ", "))
		rows = append(rows, row)
	}
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) string {
		var l strings.Builder
		l.WriteString("  ")
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if right[i] {
				l.WriteString(pad + c)
			} else if i < len(cells)-1 {
				l.WriteString(c + pad)
			} else {
				l.WriteString(c)
			}
		}
		return strings.TrimRight(l.String(), " ")
	}
	b.WriteString(w.paint(sgrDim, line(header)))
	b.WriteByte('\n')
	indent := strings.Repeat(" ", 2+widths[0]+2)
	for i, e := range f.Events {
		if e.Elided > 0 {
			fmt.Fprintf(b, "%s%s\n", indent, w.paint(sgrDim, fmt.Sprintf("%s %s elided %s",
				w.ellipsis(), plural(int64(e.Elided), "segment"), w.ellipsis())))
		}
		sgr := ""
		switch {
		case e.Flags.Has(reassembly.FlagRST):
			sgr = sgrRed
		case hasNote(e.Notes, "old incarnation"), hasNote(e.Notes, "old segment"):
			sgr = sgrMagenta
		case hasNote(e.Notes, "retransmi"), hasNote(e.Notes, "duplicate"):
			sgr = sgrYellow
		}
		b.WriteString(w.paint(sgr, line(rows[i])))
		b.WriteByte('\n')
	}
}

// hasNote reports whether a note mentions sub ("FIN retransmission"
// mentions "retransmi").
func hasNote(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func dash(ascii bool) string {
	if ascii {
		return "-"
	}
	return "–"
}

// plural returns "1 flow", "2 flows".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
