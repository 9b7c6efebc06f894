package report

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"teardown/analyzer"
	"teardown/capture"
)

// maxHTMLRows is how many selected flows the html flow table lists.
const maxHTMLRows = 20000

//go:embed templates/report.html.tmpl
var htmlSource string

//go:embed templates/report.js
var htmlScript string

// htmlTemplate is the page. The Content-Security-Policy in it allows no
// network access at all and only the page's own script, by its hash: a
// string from a capture that slipped through escaping still could not
// run or load anything.
var htmlTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"n":   num,
	"sub": func(a, b float64) float64 { return a - b },
	"mid": func(a, b int) float64 { return float64(a+b) / 2 },
}).Parse(strings.Replace(htmlSource, "SCRIPT-HASH", scriptHash(htmlScript), 1)))

func scriptHash(js string) string {
	sum := sha256.Sum256([]byte(js))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// htmlRow is one line of the html flow table.
type htmlRow struct {
	ID          int
	Stream      int
	Class       string
	Color       string
	Client      string
	Server      string
	Start       string
	StartNS     int64
	Duration    string
	DurNS       int64
	Closer      string
	CommunityID string
	Shown       bool
}

type htmlFact struct{ K, V string }

// htmlFlow is one shown flow's section.
type htmlFlow struct {
	ID      int
	Class   string
	Color   string
	Client  string
	Server  string
	Verdict string
	Facts   []htmlFact
	Filters []string
	Diagram *svgDiagram
	Ladder  string
}

type htmlInput struct {
	Name, Format, LinkTypes                   string
	Frames, TCP, NonTCP, Fragments, Truncated int64
	First, Last                               string
}

type htmlCount struct {
	Name  string
	Color string
	N     int64
}

type htmlFinding struct {
	Severity string
	Title    string
	Meaning  string
	Fix      string
	Items    []htmlItem
	More     int
}

type htmlItem struct {
	Subject string
	Detail  string
	Flows   []htmlFlowLink
}

type htmlFlowLink struct {
	ID    int
	Shown bool
}

type htmlPage struct {
	Title     string
	Lead      string
	Inputs    []htmlInput
	Vantage   string
	Classes   []htmlCount
	Flags     []htmlCount
	Findings  []htmlFinding
	TWPlot    *svgPlot
	ClosePlot *svgPlot
	Rows      []htmlRow
	RowsCut   int64
	Filter    []string
	Shown     string
	Sections  []template.HTML
	Script    template.JS
}

func (w *Writer) addHTMLRow(f *analyzer.Flow, shown bool) {
	if len(w.doc.rows) >= maxHTMLRows {
		w.doc.rowsCut++
		return
	}
	w.doc.rows = append(w.doc.rows, htmlRow{
		ID: f.ID, Stream: f.Stream, Class: f.Class.String(), Color: htmlClassColor(f.Class),
		Client: f.Client.String(), Server: f.Server.String(),
		Start: fmtTime(f.FirstAt), StartNS: f.FirstAt,
		Duration: fmtSeconds(f.LastAt - f.FirstAt), DurNS: f.LastAt - f.FirstAt,
		Closer: f.ActiveCloser.String(), CommunityID: flowCommunityID(f), Shown: shown,
	})
}

// renderHTMLFlow renders one flow's section: facts, verdict, the sequence
// diagram and the text ladder.
func (w *Writer) renderHTMLFlow(f *analyzer.Flow) []byte {
	h := htmlFlow{
		ID: f.ID, Class: f.Class.String(), Color: htmlClassColor(f.Class),
		Client: f.Client.String(), Server: f.Server.String(), Verdict: Sanitize(f.Verdict),
	}
	fact := func(k, v string) {
		if v != "" {
			h.Facts = append(h.Facts, htmlFact{k, Sanitize(v)})
		}
	}
	if fl := f.Flags.Strings(); len(fl) > 0 {
		fact("Flags", strings.Join(fl, ", "))
	}
	fact("Stream, incarnation", fmt.Sprintf("%d, %d", f.Stream, f.Incarnation))
	fact("Frames", w.cite(f.First)+" to "+w.cite(f.Last))
	fact("Packets (client, server)", fmt.Sprintf("%d, %d; payload bytes %d, %d", f.Packets[0], f.Packets[1], f.Bytes[0], f.Bytes[1]))
	fact("Time", fmt.Sprintf("%s, for %s s", fmtTime(f.FirstAt), fmtSeconds(f.LastAt-f.FirstAt)))
	fact("Community ID", flowCommunityID(f))
	fact("Active closer", f.ActiveCloser.String())
	v := f.Vantage.String()
	if f.VantageWhy != "" {
		v += " (" + f.VantageWhy + ")"
	}
	fact("Vantage", v)
	if f.DirGuessed {
		fact("Direction", "no handshake: client and server guessed from the ports")
	}
	fact("Final states", fmt.Sprintf("client %s, server %s", f.FinalState[0], f.FinalState[1]))
	if r := f.Reset; r != nil {
		s := fmt.Sprintf("by the %s at frame %s", r.By&1, w.cite(r.Frame))
		if r.Cause != "" {
			s += "; likely cause: " + r.Cause
		}
		if r.Evidence != "" {
			s += "; evidence: " + r.Evidence
		}
		fact("Reset", s)
	}
	if d := f.LateDuplicate; d != nil {
		s := fmt.Sprintf("frame %s belongs to incarnation %d", w.cite(d.Frame), d.FromIncarnation)
		if d.Answer != "" {
			s += "; answered: " + d.Answer
		}
		fact("Late duplicate", s)
	}
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			fact("TIME_WAIT", fmt.Sprintf("%s %s until %s", side, endpoint(f, side), fmtTime(u)))
		}
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		fact("Stuck", fmt.Sprintf("%s %s in %s for %s s (peer in %s)", side, endpoint(f, side),
			f.FinalState[side], fmtSeconds(f.StuckFor), f.FinalState[side.Other()]))
	}
	stream, tuple := wiresharkFilters(f)
	h.Filters = []string{stream, tuple}
	if len(f.Events) > 0 {
		h.Diagram = w.diagram(f)
		h.Ladder = string(w.appendLadder(nil, f))
	}
	var b bytes.Buffer
	if err := htmlTemplate.ExecuteTemplate(&b, "flow", h); err != nil && w.err == nil {
		w.err = fmt.Errorf("rendering flow %d: %w", f.ID, err)
	}
	return b.Bytes()
}

// closeHTML writes the page.
func (w *Writer) closeHTML(inputs []capture.Input) {
	s := &w.sum
	p := htmlPage{Script: template.JS(htmlScript), RowsCut: w.doc.rowsCut, Vantage: w.find.vantageText()}
	var frames, first, last int64
	names := make([]string, 0, len(inputs))
	for _, in := range inputs {
		frames += in.Frames
		if in.FirstAt != 0 && (first == 0 || in.FirstAt < first) {
			first = in.FirstAt
		}
		last = max(last, in.LastAt)
		names = append(names, Sanitize(in.Name))
		p.Inputs = append(p.Inputs, htmlInput{
			Name: Sanitize(in.Name), Format: Sanitize(cmp.Or(in.Format, "?")), LinkTypes: Sanitize(strings.Join(in.LinkTypes, ", ")),
			Frames: in.Frames, TCP: in.TCP, NonTCP: in.NonTCP, Fragments: in.Fragments, Truncated: in.Truncated,
			First: optTimeText(in.FirstAt), Last: optTimeText(in.LastAt),
		})
	}
	p.Title = strings.Join(names, ", ")
	p.Lead = fmt.Sprintf("%s, %s, %s, %s.", plural(int64(len(inputs)), "input"), plural(frames, "frame"),
		plural(s.segments, "TCP segment"), plural(s.flows, "flow"))
	if first != 0 {
		p.Lead += fmt.Sprintf(" From %s to %s (%s s).", fmtTime(first), fmtTime(last), fmtSeconds(last-first))
	}
	for _, c := range analyzer.Classes() {
		if n := s.classes[c]; n > 0 {
			p.Classes = append(p.Classes, htmlCount{Name: c.String(), Color: htmlClassColor(c), N: n})
		}
	}
	for _, n := range analyzer.FlagNames() {
		if v := s.flags[n]; v > 0 {
			p.Flags = append(p.Flags, htmlCount{Name: n, N: v})
		}
	}
	shown := map[int]bool{}
	for _, sec := range w.doc.sections {
		shown[sec.id] = true
	}
	for _, f := range w.findings {
		hf := htmlFinding{Severity: f.Severity.String(), Title: Sanitize(f.Title), Meaning: Sanitize(f.Meaning), Fix: Sanitize(f.Fix), More: f.More}
		for _, it := range f.Items {
			hi := htmlItem{Subject: Sanitize(it.Subject), Detail: Sanitize(it.Detail)}
			for _, id := range it.Flows {
				hi.Flows = append(hi.Flows, htmlFlowLink{ID: id, Shown: shown[id]})
			}
			hf.Items = append(hf.Items, hi)
		}
		p.Findings = append(p.Findings, hf)
	}
	p.TWPlot = w.timeWaitPlot()
	p.ClosePlot = w.closesPlot()
	slices.SortStableFunc(w.doc.rows, func(a, b htmlRow) int { return cmp.Compare(a.ID, b.ID) })
	p.Rows = w.doc.rows
	seen := map[string]bool{}
	for _, r := range p.Rows {
		seen[r.Class] = true
	}
	for _, c := range analyzer.Classes() {
		if seen[c.String()] {
			p.Filter = append(p.Filter, c.String())
		}
	}
	p.Shown = w.shownSentence()
	slices.SortStableFunc(w.doc.sections, func(a, b heldBlock) int { return cmp.Compare(a.id, b.id) })
	for _, sec := range w.doc.sections {
		// Each section is the output of the "flow" template, which
		// escaped everything it was given.
		p.Sections = append(p.Sections, template.HTML(sec.text))
	}
	var b bytes.Buffer
	if err := htmlTemplate.ExecuteTemplate(&b, "page", p); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("rendering html: %w", err)
		}
		return
	}
	w.write(b.Bytes())
	w.doc.sections, w.doc.rows = nil, nil
}
