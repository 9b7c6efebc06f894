package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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
	w.textBuf = w.appendFlowText(w.textBuf[:0], f)
	if w.streaming {
		w.write(w.textBuf)
		return
	}
	b, n := w.textBuf, len(w.heldText)
	if n == 0 || cap(w.heldText[n-1])-len(w.heldText[n-1]) < len(b) {
		w.heldText = append(w.heldText, make([]byte, 0, max(heldChunk, len(b))))
		n++
	}
	c := &w.heldText[n-1]
	w.held = append(w.held, heldText{id: f.ID, chunk: n - 1, start: len(*c), end: len(*c) + len(b)})
	*c = append(*c, b...)
	w.heldLen += len(b)
	if w.heldLen > w.opts.TextBuffer {
		// Too much to hold: print what we have and stream the rest; the
		// summary comes last.
		w.streaming = true
		w.write([]byte("(Many flows to show: each is printed as its verdict becomes final, and the summary comes last.)\n\n"))
		w.flushHeld()
	}
}

// flushHeld writes the held flow blocks in id order and forgets them.
func (w *Writer) flushHeld() {
	slices.SortStableFunc(w.held, func(a, b heldText) int { return cmp.Compare(a.id, b.id) })
	for _, h := range w.held {
		w.write(w.heldText[h.chunk][h.start:h.end])
	}
	w.held, w.heldText, w.heldLen = nil, nil, 0
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
	if s.stuckN > 0 {
		fmt.Fprintf(&b, "\nHalf-closed at the end of the capture: %s\n", plural(s.stuckN, "flow"))
		for _, e := range s.stuck[:min(len(s.stuck), maxStuck)] {
			fmt.Fprintf(&b, "  %s  %s of flow %d  %s for %s s  (peer %s in %s)\n",
				e.host, e.side, e.flow, w.paint(sgrMagenta, e.state.String()), fmtSeconds(e.dur), e.peer, e.peerState)
		}
		if s.stuckN > maxStuck {
			fmt.Fprintf(&b, "  %s %d more (see --format json)\n", w.ellipsis(), s.stuckN-maxStuck)
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
	fmt.Fprintf(b, "\nTIME_WAIT at the end of the capture (%s): %s on %s\n",
		fmtTime(s.end), plural(s.twSockets, "socket"), plural(int64(len(s.twAtEnd)), "host"))
	for i, h := range s.twAtEnd {
		if i == maxTWHosts {
			fmt.Fprintf(b, "  %s %d more hosts (see --format json)\n", w.ellipsis(), len(s.twAtEnd)-i)
			break
		}
		fmt.Fprintf(b, "  %s  %s, the last until %s\n", h.addr, plural(h.n, "socket"), fmtTime(h.last))
		for _, e := range h.sides[:min(len(h.sides), maxTWSocketsHost)] {
			fmt.Fprintf(b, "    %s  %s of flow %d  until %s\n", reassembly.AddrPort{Addr: h.addr, Port: e.port()}, e.side, e.flow(), fmtTime(e.until))
		}
		if h.n > maxTWSocketsHost {
			fmt.Fprintf(b, "    %s %d more\n", w.ellipsis(), h.n-maxTWSocketsHost)
		}
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
