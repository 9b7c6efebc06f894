package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"teardown/analyzer"
	"teardown/reassembly"
)

// Plot geometry (pixels).
const (
	plotW      = 780
	plotH      = 230
	plotLeft   = 56
	plotRight  = 760
	plotTop    = 16
	plotBottom = 170
	plotHosts  = 6   // hosts drawn in the TIME_WAIT plot
	plotBars   = 120 // at most this many bars in the closes plot
)

// hostColors are the colours of the hosts in the TIME_WAIT plot.
var hostColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// classColors are the colours of the classes in tables and plots, close
// to the text report's: green for clean closes, red for resets, orange for
// lost segments, magenta for half-closed, blue for open.
var classColors = map[analyzer.Class]string{
	analyzer.ClassOpen:          "#4a7bd0",
	analyzer.ClassFourWay:       "#2e9d4a",
	analyzer.ClassSimultaneous:  "#7cc46f",
	analyzer.ClassRSTAbort:      "#d62728",
	analyzer.ClassRSTAfterClose: "#f06a5a",
	analyzer.ClassRefused:       "#8e1b1b",
	analyzer.ClassLostACK:       "#e69500",
	analyzer.ClassLostFIN:       "#c47a00",
	analyzer.ClassFINRetransmit: "#f2c14e",
	analyzer.ClassLateDuplicate: "#b0179b",
	analyzer.ClassCloseWait:     "#8a3ffc",
	analyzer.ClassFINWait:       "#c49cf5",
}

func htmlClassColor(c analyzer.Class) string { return cmp.Or(classColors[c], "#888888") }

// svgPlot is the data of a plot.
type svgPlot struct {
	W, H           int
	Left, Right    int
	Top, Bottom    int
	Series         []svgSeries
	Bars           []svgBar
	XLabels        []svgText
	YLabels        []svgText
	Marks          []svgMark
	Legend         []svgLegend
	Empty          string
	XTitle, YTitle string
}

type svgSeries struct {
	Path  string
	Color string
	Title string
}

type svgBar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type svgMark struct {
	X     float64
	Label string
}

type svgLegend struct {
	X, Y  float64
	Color string
	Text  string
}

func newPlot() *svgPlot {
	return &svgPlot{W: plotW, H: plotH, Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom}
}

// xOf maps a time to x in [Left, Right].
func (p *svgPlot) xOf(t, t0, t1 int64) float64 {
	if t1 <= t0 {
		return float64(p.Left)
	}
	return float64(p.Left) + float64(t-t0)/float64(t1-t0)*float64(p.Right-p.Left)
}

func (p *svgPlot) yOf(v, vmax int) float64 {
	if vmax <= 0 {
		return float64(p.Bottom)
	}
	return float64(p.Bottom) - float64(v)/float64(vmax)*float64(p.Bottom-p.Top)
}

func (p *svgPlot) timeAxis(t0, t1 int64) {
	for i := 0; i <= 4; i++ {
		t := t0 + (t1-t0)*int64(i)/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		label := "+" + humanDur(t-t0)
		if i == 0 {
			label = time.Unix(0, t0).UTC().Format("15:04:05.000Z")
		}
		p.XLabels = append(p.XLabels, svgText{X: p.xOf(t, t0, t1), Y: float64(p.Bottom + 16), Text: label, Anchor: anchor})
	}
}

func (p *svgPlot) valueAxis(vmax int) {
	p.YLabels = append(p.YLabels,
		svgText{X: float64(p.Left - 6), Y: float64(p.Bottom) + 4, Text: "0", Anchor: "end"},
		svgText{X: float64(p.Left - 6), Y: float64(p.Top) + 4, Text: strconv.Itoa(vmax), Anchor: "end"})
}

// timeWaitPlot draws, per host (the plotHosts with the highest peaks), how
// many of its sockets were in TIME_WAIT over time, from the first close to
// the last TIME_WAIT expiry (which may be after the capture ended).
func (w *Writer) timeWaitPlot() *svgPlot {
	p := newPlot()
	p.YTitle = "sockets in TIME_WAIT"
	if len(w.find.plotTW) == 0 {
		p.Empty = "No socket entered TIME_WAIT."
		return p
	}
	type host struct {
		addr  reassembly.Addr
		spans []interval
		peak  int
	}
	var hosts []host
	var t0, t1 int64
	for addr, spans := range w.find.plotTW {
		h := host{addr: addr, spans: spans}
		for _, s := range spans {
			if t0 == 0 || s.start < t0 {
				t0 = s.start
			}
			t1 = max(t1, s.end)
		}
		h.peak, _ = peak(h.spans)
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b host) int {
		return cmp.Or(cmp.Compare(b.peak, a.peak), a.addr.Netip().Compare(b.addr.Netip()))
	})
	if len(hosts) > plotHosts {
		hosts = hosts[:plotHosts]
	}
	vmax := hosts[0].peak
	for i, h := range hosts {
		type edge struct {
			at int64
			d  int
		}
		var edges []edge
		for _, s := range h.spans {
			edges = append(edges, edge{s.start, 1}, edge{s.end, -1})
		}
		slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.d, b.d)) })
		var path strings.Builder
		cur := 0
		fmt.Fprintf(&path, "M%s,%s", num(p.xOf(t0, t0, t1)), num(p.yOf(0, vmax)))
		for _, e := range edges {
			cur += e.d
			fmt.Fprintf(&path, " H%s V%s", num(p.xOf(e.at, t0, t1)), num(p.yOf(cur, vmax)))
		}
		fmt.Fprintf(&path, " H%s", num(p.xOf(t1, t0, t1)))
		color := hostColors[i%len(hostColors)]
		label := fmt.Sprintf("%s (peak %d)", h.addr, h.peak)
		p.Series = append(p.Series, svgSeries{Path: path.String(), Color: color, Title: label})
		p.Legend = append(p.Legend, svgLegend{X: float64(p.Left + (i%3)*240), Y: float64(p.Bottom + 36 + (i/3)*16), Color: color, Text: label})
	}
	if end := w.sum.end; end > t0 && end < t1 {
		p.Marks = append(p.Marks, svgMark{X: p.xOf(end, t0, t1), Label: "capture ends"})
	}
	p.timeAxis(t0, t1)
	p.valueAxis(vmax)
	p.fitLegend(3)
	return p
}

// closesPlot draws how many flows finished closing per second (or per
// longer bucket on a long capture), stacked by class.
func (w *Writer) closesPlot() *svgPlot {
	p := newPlot()
	closes := w.find.closes
	if len(closes) == 0 {
		p.Empty = "No flow closed."
		return p
	}
	t0, t1 := closes[0].at, closes[0].at
	for _, c := range closes {
		t0, t1 = min(t0, c.at), max(t1, c.at)
	}
	const sec = int64(1e9)
	t0 -= t0 % sec
	bucket := sec
	if span := t1 - t0; span/bucket >= plotBars {
		bucket = (span/plotBars/sec + 1) * sec
	}
	n := int((t1-t0)/bucket) + 1
	counts := make([]map[analyzer.Class]int, n)
	totals := make([]int, n)
	classes := map[analyzer.Class]bool{}
	for _, c := range closes {
		i := int((c.at - t0) / bucket)
		if counts[i] == nil {
			counts[i] = map[analyzer.Class]int{}
		}
		counts[i][c.class]++
		totals[i]++
		classes[c.class] = true
	}
	vmax := slices.Max(totals)
	end := t0 + int64(n)*bucket
	bw := float64(p.Right-p.Left) / float64(n)
	order := slices.Sorted(maps.Keys(classes))
	for i := range counts {
		base := 0
		for _, c := range order {
			k := counts[i][c]
			if k == 0 {
				continue
			}
			y1, y2 := p.yOf(base+k, vmax), p.yOf(base, vmax)
			p.Bars = append(p.Bars, svgBar{
				X: p.xOf(t0+int64(i)*bucket, t0, end) + 0.5, Y: y1, W: max(bw-1, 0.5), H: y2 - y1,
				Color: htmlClassColor(c),
				Title: fmt.Sprintf("%s: %d %s from %s", c, k, cond(k == 1, "flow", "flows"), shortTime(t0+int64(i)*bucket)),
			})
			base += k
		}
	}
	for i, c := range order {
		p.Legend = append(p.Legend, svgLegend{X: float64(p.Left + (i%5)*142), Y: float64(p.Bottom + 36 + (i/5)*16), Color: htmlClassColor(c), Text: c.String()})
	}
	p.YTitle = "closes per " + cond(bucket == sec, "second", humanDur(bucket))
	p.timeAxis(t0, end)
	p.valueAxis(vmax)
	p.fitLegend(5)
	return p
}

// fitLegend makes the plot tall enough for its legend, perRow entries a
// row.
func (p *svgPlot) fitLegend(perRow int) {
	rows := (len(p.Legend) + perRow - 1) / perRow
	p.H = max(p.H, p.Bottom+36+rows*16+4)
}
