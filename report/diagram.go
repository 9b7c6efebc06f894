package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"teardown/analyzer"
	"teardown/reassembly"
)

// Sequence diagram geometry (pixels). The client's lifeline is on the
// left, the server's on the right, time runs down.
//
// Each segment is an arrow from its sender's lifeline to its receiver's.
// The capture saw it at one instant, at one place: the end of the arrow
// nearer the capture point (Flow.Vantage) is drawn at the capture time,
// the other end diagSlant pixels away (earlier for the sender, later for
// the receiver). Near the client, a client segment leaves the client at
// capture time and reaches the server diagSlant lower; a server segment
// left the server diagSlant higher and reaches the client at capture
// time. Near the server it is the mirror image; in the middle, or when the
// vantage point is unknown, both ends are diagSlant/2 away. The slant is
// fixed: it shows direction and order, not the one-way delay.
//
// Vertically, time is to scale within a flow (diagRowPx pixels for the
// 75th percentile of the gaps between segments), except that segments
// closer than diagMinRow pixels are spaced diagMinRow apart (bursts) and a
// gap longer than diagMaxStep pixels is drawn diagGapH high, broken and
// labelled with its length (idle periods).
const (
	diagW       = 780
	diagClientX = 220
	diagServerX = 600
	diagTop     = 62
	diagSlant   = 14
	diagMinRow  = 38
	diagMaxStep = 150
	diagGapH    = 46
	diagRowPx   = 40
)

// svgDiagram is the data of one flow's sequence diagram.
type svgDiagram struct {
	ID               int
	W, H             int
	CX, SX           int
	Top, Bottom      int
	Client, Server   string
	CaptureX         float64
	CaptureLabel     string
	Arrows           []svgArrow
	States           []svgText
	Times            []svgText
	Breaks           []svgBreak
	Notes            []svgText // elisions
	Caption          string
	Vantage          string
	LegendY          int
	HasRetx, HasOld  bool
	HasImpl, HasRST  bool
	ClientStateFinal string
	ServerStateFinal string
}

// svgArrow is one segment (or one the capture implies) in a diagram.
type svgArrow struct {
	X1, Y1, X2, Y2 float64
	Head           string // arrowhead polygon points
	Kind           string // seg, rst, retx, old, implied
	Label          string
	LX, LY         float64
	Note           string
	NY             float64
	Title          string
}

// svgText is a label at a point.
type svgText struct {
	X, Y   float64
	Text   string
	Anchor string // start, middle, end
	Kind   string
}

// svgBreak marks a compressed idle gap.
type svgBreak struct {
	Y1, Y2, YM float64
	Label      string
}

// arrowKind classifies an event for colour and label.
func arrowKind(e *analyzer.Event) (kind, note string) {
	switch {
	case hasNote(e.Notes, "old incarnation"), hasNote(e.Notes, "answer to old"), hasNote(e.Notes, "old segment"):
		return "old", "old incarnation"
	case e.Flags.Has(reassembly.FlagRST):
		return "rst", ""
	case hasNote(e.Notes, "retransmi"), hasNote(e.Notes, "duplicate"), hasNote(e.Notes, "re-ACK"):
		return "retx", ""
	}
	return "seg", ""
}

// implied returns the segments an event shows the capture missed: its
// sender (true) or the other side (false) sent them.
func implied(e *analyzer.Event) (label string, sameSide bool, ok bool) {
	switch {
	case hasNote(e.Notes, "ACKs a FIN not captured"):
		return "FIN not captured (this ACK covers it)", false, true
	case hasNote(e.Notes, "ACKs data not captured"):
		return "data not captured (this ACK covers it)", false, true
	case hasNote(e.Notes, "previous segment not captured"):
		return "earlier segment not captured", true, true
	}
	return "", false, false
}

// diagram lays out a flow's timeline.
func (w *Writer) diagram(f *analyzer.Flow) *svgDiagram {
	d := &svgDiagram{
		ID: f.ID, W: diagW, CX: diagClientX, SX: diagServerX, Top: diagTop,
		Client: f.Client.String(), Server: f.Server.String(), Vantage: f.Vantage.String(),
	}
	switch f.Vantage {
	case analyzer.VantageClient:
		d.CaptureX, d.CaptureLabel = diagClientX+26, "capture point (near the client)"
	case analyzer.VantageServer:
		d.CaptureX, d.CaptureLabel = diagServerX-26, "capture point (near the server)"
	case analyzer.VantageMiddle:
		d.CaptureX, d.CaptureLabel = (diagClientX+diagServerX)/2, "capture point (between them)"
	default:
		d.CaptureX, d.CaptureLabel = (diagClientX+diagServerX)/2, "capture point (unknown; drawn in the middle)"
	}

	// Vertical scale: diagRowPx for the 75th percentile gap.
	var gaps []int64
	for i := 1; i < len(f.Events); i++ {
		if g := f.Events[i].At - f.Events[i-1].At; g > 0 {
			gaps = append(gaps, g)
		}
	}
	scale := 0.0 // pixels per nanosecond
	if len(gaps) > 0 {
		slices.Sort(gaps)
		scale = diagRowPx / float64(gaps[len(gaps)*3/4])
	}

	y := float64(diagTop + 28)
	var prevAt int64
	prevState := [2]analyzer.State{255, 255}
	extra := 0.0 // more room below an arrow that carries a note
	for i := range f.Events {
		e := &f.Events[i]
		if i > 0 {
			dt := e.At - prevAt
			h := float64(dt) * scale
			switch {
			case h > diagMaxStep:
				// The band starts below the end of the arrow before it,
				// which may slant down by diagSlant.
				y1 := y + diagSlant + 2
				y += diagGapH
				d.Breaks = append(d.Breaks, svgBreak{Y1: y1, Y2: y - 10, YM: (y1 + y - 10) / 2,
					Label: "idle " + humanDur(dt) + " (compressed)"})
				y += diagMinRow / 2
			default:
				y += max(h, diagMinRow+extra)
			}
		}
		prevAt = e.At
		if e.Elided > 0 {
			d.Notes = append(d.Notes, svgText{X: (diagClientX + diagServerX) / 2, Y: y, Anchor: "middle", Kind: "elided",
				Text: fmt.Sprintf("… %s elided …", plural(int64(e.Elided), "segment"))})
			y += diagMinRow * 0.8
		}
		if label, same, ok := implied(e); ok {
			from := e.From
			if !same {
				from = from.Other()
			}
			a := w.segArrow(f.Vantage, from, y)
			a.Kind, a.Label, a.Title = "implied", label, Sanitize("implied by frame "+w.cite(e.FrameRef)+": "+label)
			d.Arrows = append(d.Arrows, a)
			d.HasImpl = true
			y += diagMinRow
		}
		a := w.segArrow(f.Vantage, e.From, y)
		kind, note := arrowKind(e)
		a.Kind = kind
		a.Label = "#" + w.citeText(e.FrameRef) + " " + e.Flags.String() + " seq=" + strconv.FormatUint(uint64(e.Seq), 10)
		if e.Flags.Has(reassembly.FlagACK) {
			a.Label += " ack=" + strconv.FormatUint(uint64(e.Ack), 10)
		}
		if e.Len > 0 {
			a.Label += " len=" + strconv.FormatUint(uint64(e.Len), 10)
		}
		notes := joinNotes(e.Notes)
		if note != "" && !hasNote(e.Notes, note) {
			notes = note + cond(notes != "", ", "+notes, "")
		}
		a.Note = Sanitize(notes)
		// Room for the note under this arrow and the label over the next,
		// even when this one slants down and the next up.
		extra = cond(notes != "", 12.0+diagSlant, 0.0)
		a.Title = fmt.Sprintf("frame %s at +%s s, %s, win %d", w.citeText(e.FrameRef), fmtSeconds(e.Rel), direction(e.From), e.Win)
		if e.HasTS {
			a.Title += fmt.Sprintf(", TSval %d TSecr %d", e.TSval, e.TSecr)
		}
		switch kind {
		case "retx":
			d.HasRetx = true
		case "old":
			d.HasOld = true
		case "rst":
			d.HasRST = true
		}
		d.Arrows = append(d.Arrows, a)
		d.Times = append(d.Times, svgText{X: 8, Y: y + 4, Text: "+" + fmtSeconds(e.Rel), Anchor: "start"})
		// States are inferred at the capture point: write them at the
		// capture time, beside each lifeline.
		if e.Client != prevState[0] {
			d.States = append(d.States, svgText{X: diagClientX - 8, Y: y + 4, Text: e.Client.String(), Anchor: "end", Kind: "state"})
		}
		if e.Server != prevState[1] {
			d.States = append(d.States, svgText{X: diagServerX + 8, Y: y + 4, Text: e.Server.String(), Anchor: "start", Kind: "state"})
		}
		prevState = [2]analyzer.State{e.Client, e.Server}
	}
	d.Bottom = int(y) + 30
	d.LegendY = d.Bottom + 22
	d.H = d.LegendY + 34
	d.ClientStateFinal = f.FinalState[0].String()
	d.ServerStateFinal = f.FinalState[1].String()
	return d
}

// segArrow places a segment sent by from and captured at height y.
func (w *Writer) segArrow(v analyzer.Vantage, from analyzer.Side, y float64) svgArrow {
	var sendY, recvY float64
	near := from == analyzer.Client && v == analyzer.VantageClient || from == analyzer.Server && v == analyzer.VantageServer
	far := from == analyzer.Client && v == analyzer.VantageServer || from == analyzer.Server && v == analyzer.VantageClient
	switch {
	case near: // captured as it left the sender
		sendY, recvY = y, y+diagSlant
	case far: // captured as it reached the receiver
		sendY, recvY = y-diagSlant, y
	default:
		sendY, recvY = y-diagSlant/2, y+diagSlant/2
	}
	a := svgArrow{X1: diagClientX, Y1: sendY, X2: diagServerX, Y2: recvY}
	if from == analyzer.Server {
		a.X1, a.X2 = diagServerX, diagClientX
	}
	a.Head = arrowHead(a.X1, a.Y1, a.X2, a.Y2)
	a.LX = (a.X1 + a.X2) / 2
	a.LY = (a.Y1+a.Y2)/2 - 5
	a.NY = (a.Y1+a.Y2)/2 + 13
	return a
}

// arrowHead returns the points of a triangle at (x2, y2) pointing along
// the line from (x1, y1).
func arrowHead(x1, y1, x2, y2 float64) string {
	dx, dy := x2-x1, y2-y1
	l := math.Hypot(dx, dy)
	if l == 0 {
		return ""
	}
	ux, uy := dx/l, dy/l
	bx, by := x2-9*ux, y2-9*uy
	return fmt.Sprintf("%s,%s %s,%s %s,%s", num(x2), num(y2), num(bx-4*uy), num(by+4*ux), num(bx+4*uy), num(by-4*ux))
}

// num formats a coordinate with one decimal.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func cond[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

func joinNotes(notes []string) string {
	out := ""
	for i, n := range notes {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// humanDur formats a duration for a label: "42.56 ms", "4.5 s".
func humanDur(ns int64) string {
	switch {
	case ns < 1e6:
		return strconv.FormatFloat(float64(ns)/1e3, 'f', 1, 64) + " µs"
	case ns < 1e9:
		return strconv.FormatFloat(float64(ns)/1e6, 'f', 2, 64) + " ms"
	case ns < 120e9:
		return strconv.FormatFloat(float64(ns)/1e9, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(float64(ns)/60e9, 'f', 1, 64) + " min"
}
