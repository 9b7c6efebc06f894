package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"teardown/analyzer"
	"teardown/reassembly"
)

// A text flow block is most of the text output on a large capture, so it
// is appended to a reused byte slice, without fmt and without a string
// per cell: appendFlowText and appendLadder allocate nothing of their own
// once the Writer's scratch space has grown, except to name an input
// outside Options.Inputs or an out-of-range class, state or closer.

// textScratch is the text renderer's reusable space.
type textScratch struct {
	ladder   ladder
	decisive []decisiveRef
}

type decisiveRef struct {
	name string
	ref  analyzer.FrameRef
}

// ladder holds the cells of one ladder, the header's first, back to back
// in one byte slice, and the width of each column.
type ladder struct {
	cells  []byte
	ends   []int32 // per cell: the offset just past it; it starts where the previous one ends
	runes  []int32 // per cell: its width in runes
	widths []int   // per column
	ncol   int
}

// reset starts a ladder of ncol columns.
func (l *ladder) reset(ncol int) {
	l.cells, l.ends, l.runes = l.cells[:0], l.ends[:0], l.runes[:0]
	l.widths = slices.Grow(l.widths[:0], ncol)[:ncol]
	clear(l.widths)
	l.ncol = ncol
}

// end ends the cell appended since the previous one, given l.cells as
// the caller has grown it (callers keep it in a local variable, where
// growing it needs no write barrier).
func (l *ladder) end(cells []byte) {
	l.endWidth(cells, utf8.RuneCount(cells[l.start(len(l.ends)):]))
}

// endASCII is end for a cell of ASCII characters only.
func (l *ladder) endASCII(cells []byte) {
	l.endWidth(cells, len(cells)-int(l.start(len(l.ends))))
}

// endWidth is end for a cell n runes wide.
func (l *ladder) endWidth(cells []byte, n int) {
	col := len(l.ends) % l.ncol
	l.ends = append(l.ends, int32(len(cells)))
	l.runes = append(l.runes, int32(n))
	l.widths[col] = max(l.widths[col], n)
}

// start returns where cell k starts.
func (l *ladder) start(k int) int32 {
	if k == 0 {
		return 0
	}
	return l.ends[k-1]
}

// The ladder's columns. The TCP timestamp columns are there only for the
// classes whose evidence they are (tsClass).
var (
	ladderHeader   = []string{"frame", "time", "dir", "flags", "seq", "ack", "len", "win", "client", "server", "notes"}
	ladderRight    = []bool{true, true, false, false, true, true, true, true, false, false, false}
	ladderHeaderTS = []string{"frame", "time", "dir", "flags", "seq", "ack", "len", "win", "tsval", "tsecr", "client", "server", "notes"}
	ladderRightTS  = []bool{true, true, false, false, true, true, true, true, true, true, false, false, false}
)

// paintStart begins a run of text painted with sgr (see paint): it
// appends the sequence when colour is on and returns where the text
// starts.
func (w *Writer) paintStart(b []byte, sgr string) ([]byte, int) {
	if w.opts.Color && sgr != "" {
		b = append(b, sgr...)
	}
	return b, len(b)
}

// paintEnd ends the run paintStart began at start: it appends the reset,
// or takes the sequence back when no text followed it, as paint does.
func (w *Writer) paintEnd(b []byte, sgr string, start int) []byte {
	if !w.opts.Color || sgr == "" {
		return b
	}
	if len(b) == start {
		return b[:start-len(sgr)]
	}
	return append(b, sgrReset...)
}

// appendPaint appends paint(sgr, s).
func (w *Writer) appendPaint(b []byte, sgr, s string) []byte {
	b, start := w.paintStart(b, sgr)
	b = append(b, s...)
	return w.paintEnd(b, sgr, start)
}

// appendCiteText appends citeText(r).
func (w *Writer) appendCiteText(b []byte, r analyzer.FrameRef) []byte {
	if r.Frame <= 0 {
		return append(b, '?')
	}
	if w.multi() {
		b = appendSanitized(b, w.inputName(r.File))
		b = append(b, ':')
	}
	return strconv.AppendInt(b, r.Frame, 10)
}

// appendCiteRange cites the frames from first to last: "14–23",
// "b.pcap:14–23", "a.pcap:90–b.pcap:3".
func (w *Writer) appendCiteRange(b []byte, first, last analyzer.FrameRef) []byte {
	b = w.appendCiteText(b, first)
	b = append(b, dash(w.opts.ASCII)...)
	if first.File == last.File && first.Frame > 0 && last.Frame > 0 {
		return strconv.AppendInt(b, last.Frame, 10)
	}
	return w.appendCiteText(b, last)
}

// appendInt appends n in decimal.
func appendInt[T ~int | ~int64](b []byte, n T) []byte { return strconv.AppendInt(b, int64(n), 10) }

// appendUint appends n in decimal.
func appendUint[T ~uint32 | ~uint64](b []byte, n T) []byte {
	return strconv.AppendUint(b, uint64(n), 10)
}

// appendSpaces appends n spaces.
func appendSpaces(b []byte, n int) []byte {
	const spaces = "                                "
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	return append(b, spaces[:max(n, 0)]...)
}

// fieldStart begins a "  label          value" line of the flow header
// (the label padded to 15 runes) and returns where its value starts.
func fieldStart(b []byte, label string) ([]byte, int) {
	b = append(b, "  "...)
	b = append(b, label...)
	b = appendSpaces(b, 15-utf8.RuneCountInString(label))
	return b, len(b)
}

// fieldEnd ends the line fieldStart began for label, or takes the line
// back when its value, from v on, is empty: the header leaves out empty
// fields.
func fieldEnd(b []byte, v int, label string) []byte {
	if len(b) == v {
		return b[:v-2-len(label)-max(15-utf8.RuneCountInString(label), 0)]
	}
	return append(b, '\n')
}

// appendFlowText appends one flow's block of the text report: the header
// and the ladder.
func (w *Writer) appendFlowText(b []byte, f *analyzer.Flow) []byte {
	b, p := w.paintStart(b, sgrBold)
	b = append(b, "flow "...)
	b = appendInt(b, f.ID)
	b = w.paintEnd(b, sgrBold, p)
	b = append(b, "  "...)
	classSGR := ""
	if w.opts.Color {
		classSGR = sgrBold + classColor(f.Class)
	}
	b = w.appendPaint(b, classSGR, f.Class.String())
	b = append(b, "  "...)
	b = f.Client.AppendTo(b)
	if w.opts.ASCII {
		b = append(b, " -> "...)
	} else {
		b = append(b, " → "...)
	}
	b = f.Server.AppendTo(b)
	if f.DirGuessed {
		b = append(b, "  (no handshake: client and server guessed from the ports)"...)
	}
	b = append(b, "\n  stream "...)
	b = appendInt(b, f.Stream)
	b = append(b, ", incarnation "...)
	b = appendInt(b, f.Incarnation)
	b = append(b, ", frames "...)
	b = w.appendCiteRange(b, f.First, f.Last)
	b = append(b, ", "...)
	b = appendInt(b, f.Packets[0]+f.Packets[1])
	b = append(b, " packets (client "...)
	b = appendInt(b, f.Packets[0])
	b = append(b, ", server "...)
	b = appendInt(b, f.Packets[1])
	b = append(b, "), "...)
	b = appendUint(b, f.Bytes[0])
	b = append(b, '+')
	b = appendUint(b, f.Bytes[1])
	b = append(b, " payload bytes\n  from "...)
	b = appendTime(b, f.FirstAt)
	b = append(b, " for "...)
	b = appendSeconds(b, f.LastAt-f.FirstAt)
	b = append(b, " s\n  community id "...)
	b = appendFlowCommunityID(b, f)
	b = append(b, '\n')

	var v int
	if f.Flags != 0 {
		b, v = fieldStart(b, "flags")
		for i, n := range flagNames {
			if uint16(f.Flags)&(1<<i) != 0 {
				if len(b) > v {
					b = append(b, ", "...)
				}
				b = append(b, n...)
			}
		}
		b = fieldEnd(b, v, "flags")
	}
	b = w.appendField(b, "active closer", f.ActiveCloser.String())
	b, v = fieldStart(b, "vantage")
	b = append(b, f.Vantage.String()...)
	if f.VantageWhy != "" {
		b = append(b, " ("...)
		b = appendSanitized(b, f.VantageWhy)
		b = append(b, ')')
	}
	b = fieldEnd(b, v, "vantage")
	b, v = fieldStart(b, "verdict")
	b = appendSanitized(b, f.Verdict)
	b = fieldEnd(b, v, "verdict")
	if r := f.Reset; r != nil {
		b, v = fieldStart(b, "reset")
		b = append(b, "by "...)
		b = append(b, (r.By & 1).String()...)
		b = append(b, " at frame "...)
		b = w.appendCiteText(b, r.Frame)
		if r.Cause != "" {
			b = append(b, "; likely cause: "...)
			b = appendSanitized(b, r.Cause)
		}
		if r.Evidence != "" {
			b = append(b, "; evidence: "...)
			b = appendSanitized(b, r.Evidence)
		}
		b = fieldEnd(b, v, "reset")
	}
	if d := f.LateDuplicate; d != nil {
		b, v = fieldStart(b, "late duplicate")
		b = append(b, "frame "...)
		b = w.appendCiteText(b, d.Frame)
		b = append(b, " belongs to incarnation "...)
		b = appendInt(b, d.FromIncarnation)
		if d.Answer != "" {
			b = append(b, "; answered: "...)
			b = appendSanitized(b, d.Answer)
			if d.AnswerFrame != nil {
				b = append(b, " (frame "...)
				b = w.appendCiteText(b, *d.AnswerFrame)
				b = append(b, ')')
			}
		}
		b = fieldEnd(b, v, "late duplicate")
	}
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			b, _ = fieldStart(b, "TIME_WAIT")
			b = append(b, side.String()...)
			b = append(b, ' ')
			b = endpoint(f, side).AppendTo(b)
			b = append(b, " until "...)
			b = appendTime(b, u)
			b = append(b, '\n')
		}
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		b, _ = fieldStart(b, "stuck")
		b = append(b, side.String()...)
		b = append(b, ' ')
		b = endpoint(f, side).AppendTo(b)
		b = append(b, " in "...)
		b = append(b, f.FinalState[side].String()...)
		b = append(b, " for "...)
		b = appendSeconds(b, f.StuckFor)
		b = append(b, " s (peer in "...)
		b = append(b, f.FinalState[side.Other()].String()...)
		b = append(b, ")\n"...)
	}
	if len(f.Decisive) > 0 {
		// By frame, then by name.
		refs := w.text.decisive[:0]
		for k, r := range f.Decisive {
			refs = append(refs, decisiveRef{k, r})
		}
		slices.SortFunc(refs, func(a, b decisiveRef) int {
			if a.ref != b.ref {
				return cmp.Or(cmp.Compare(a.ref.File, b.ref.File), cmp.Compare(a.ref.Frame, b.ref.Frame))
			}
			return strings.Compare(a.name, b.name)
		})
		b, v = fieldStart(b, "decisive")
		for i, d := range refs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendSanitized(b, d.name)
			b = append(b, ' ')
			b = w.appendCiteText(b, d.ref)
		}
		b = fieldEnd(b, v, "decisive")
		clear(refs)
		w.text.decisive = refs[:0]
	}
	if len(f.Events) > 0 {
		b = append(b, '\n')
		b = w.appendLadder(b, f)
	}
	return append(b, '\n')
}

// appendField appends a header line with a value that needs no escaping,
// unless the value is empty.
func (w *Writer) appendField(b []byte, label, value string) []byte {
	if value == "" {
		return b
	}
	b, _ = fieldStart(b, label)
	b = append(b, value...)
	return append(b, '\n')
}

// appendLadder appends the timeline as aligned columns: frame, time since
// the flow's first frame, direction, flags, relative seq and ack, payload
// length, window, (TCP timestamps for the classes whose evidence they
// are), both endpoints' states after the segment and the notes. With
// colour, RST segments are red, segments of or answering an old
// incarnation magenta, retransmissions and duplicates yellow. Trailing
// spaces are trimmed from every line.
func (w *Writer) appendLadder(b []byte, f *analyzer.Flow) []byte {
	showTS := false
	if tsClass(f.Class) {
		for i := range f.Events {
			if e := &f.Events[i]; e.TSval != 0 || e.TSecr != 0 {
				showTS = true
				break
			}
		}
	}
	header, right := ladderHeader, ladderRight
	if showTS {
		header, right = ladderHeaderTS, ladderRightTS
	}
	l := &w.text.ladder
	l.reset(len(header))
	c := l.cells
	for _, h := range header {
		c = append(c, h...)
		l.end(c)
	}
	for i := range f.Events {
		c = w.ladderRow(l, c, &f.Events[i], showTS)
	}
	l.cells = c

	b = w.appendLadderLine(b, l, 0, right, sgrDim)
	for i := range f.Events {
		e := &f.Events[i]
		if e.Elided > 0 {
			b = appendSpaces(b, 2+l.widths[0]+2)
			var p int
			b, p = w.paintStart(b, sgrDim)
			b = append(b, w.ellipsis()...)
			b = append(b, ' ')
			b = append(b, plural(int64(e.Elided), "segment")...)
			b = append(b, " elided "...)
			b = append(b, w.ellipsis()...)
			b = w.paintEnd(b, sgrDim, p)
			b = append(b, '\n')
		}
		sgr := ""
		if w.opts.Color {
			switch {
			case e.Flags.Has(reassembly.FlagRST):
				sgr = sgrRed
			case hasNote(e.Notes, "old incarnation"), hasNote(e.Notes, "old segment"):
				sgr = sgrMagenta
			case hasNote(e.Notes, "retransmi"), hasNote(e.Notes, "duplicate"):
				sgr = sgrYellow
			}
		}
		b = w.appendLadderLine(b, l, 1+i, right, sgr)
	}
	return b
}

// ladderRow appends the cells of one event to c, the cells of l, and
// returns it.
func (w *Writer) ladderRow(l *ladder, c []byte, e *analyzer.Event, showTS bool) []byte {
	c = w.appendCiteText(c, e.FrameRef)
	if w.multi() {
		l.end(c) // a file name
	} else {
		l.endASCII(c)
	}
	c = appendSeconds(c, e.Rel)
	l.endASCII(c)
	c = append(c, w.arrow(e.From)...)
	l.endWidth(c, len("C --> S"))
	c = appendTCPFlags(c, e.Flags)
	l.endASCII(c)
	c = appendUint(c, e.Seq)
	l.endASCII(c)
	if e.Flags.Has(reassembly.FlagACK) {
		c = appendUint(c, e.Ack)
	}
	l.endASCII(c)
	c = appendUint(c, e.Len)
	l.endASCII(c)
	c = appendUint(c, e.Win)
	l.endASCII(c)
	if showTS {
		if e.TSval != 0 || e.TSecr != 0 {
			c = appendUint(c, e.TSval)
			l.endASCII(c)
			c = appendUint(c, e.TSecr)
		} else {
			l.endASCII(c)
		}
		l.endASCII(c)
	}
	c = append(c, e.Client.String()...)
	l.end(c)
	c = append(c, e.Server.String()...)
	l.end(c)
	for j, n := range e.Notes {
		if j > 0 {
			c = append(c, ", "...)
		}
		c = appendSanitized(c, n)
	}
	l.end(c)
	return c
}

// appendLadderLine appends row r of l (0 is the header), painted with sgr,
// without trailing spaces: right-aligned columns are padded on the left,
// the others but the last on the right.
func (w *Writer) appendLadderLine(b []byte, l *ladder, r int, right []bool, sgr string) []byte {
	b, start := w.paintStart(b, sgr)
	b = append(b, "  "...)
	for i := range l.ncol {
		k := r*l.ncol + i
		c, pad := l.cells[l.start(k):l.ends[k]], l.widths[i]-int(l.runes[k])
		if i > 0 {
			b = append(b, "  "...)
		}
		if right[i] {
			b = appendSpaces(b, pad)
		}
		b = append(b, c...)
		if !right[i] && i < l.ncol-1 {
			b = appendSpaces(b, pad)
		}
	}
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	b = w.paintEnd(b, sgr, start)
	return append(b, '\n')
}
