package report

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"teardown/analyzer"
	"teardown/capture"
)

// SchemaVersion is the version of the JSON and ndjson output. It changes
// when a key is removed or changes meaning, not when one is added.
const SchemaVersion = 1

// Format is an output format.
type Format uint8

// The formats.
const (
	Text     Format = iota // text: summary and ladders for people
	JSON                   // json: one document
	NDJSON                 // ndjson: one flow per line, then a summary line
	Markdown               // markdown: a report for an incident ticket
	HTML                   // html: one self-contained page with diagrams
)

var formatNames = [...]string{"text", "json", "ndjson", "markdown", "html"}

// String returns "text", "json", "ndjson", "markdown" or "html".
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if n == s {
			return Format(i), nil
		}
	}
	if s == "md" {
		return Markdown, nil
	}
	return 0, fmt.Errorf("unknown format %q (want text, json, ndjson, markdown or html)", s)
}

// FormatForPath guesses the format from a file name's extension: .json,
// .ndjson or .jsonl, .txt or .text, .md or .markdown, .html or .htm. It
// reports false for other extensions.
func FormatForPath(name string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return JSON, true
	case ".ndjson", ".jsonl":
		return NDJSON, true
	case ".txt", ".text":
		return Text, true
	case ".md", ".markdown":
		return Markdown, true
	case ".html", ".htm":
		return HTML, true
	}
	return 0, false
}

// Filter selects the flows to render. The zero value selects every flow.
// The summary always counts every flow, selected or not.
type Filter struct {
	Classes []analyzer.Class // any of these classes; empty: any class
	FlowID  int              // only this flow id; 0: any
	Stream  *int             // only this tcp.stream index; nil: any
}

// Match reports whether f passes the filter.
func (fl Filter) Match(f *analyzer.Flow) bool {
	if len(fl.Classes) > 0 && !slices.Contains(fl.Classes, f.Class) {
		return false
	}
	if fl.FlowID != 0 && f.ID != fl.FlowID {
		return false
	}
	if fl.Stream != nil && f.Stream != *fl.Stream {
		return false
	}
	return true
}

// explicit reports whether the filter names classes or a flow, which
// overrides the text format's default of hiding four-way and open flows.
func (fl Filter) explicit() bool {
	return len(fl.Classes) > 0 || fl.FlowID != 0 || fl.Stream != nil
}

// Options tune a Writer.
type Options struct {
	// Inputs are the names of the capture files in the order given to
	// capture.Open, used to cite frames. With more than one input, frames
	// are cited as FILE:FRAME.
	Inputs []string

	// Filter selects the flows to render.
	Filter Filter

	// All makes the text format show every selected flow. By default it
	// shows only flows whose class is neither four-way nor open, unless the
	// filter names classes or a flow.
	All bool

	// Color enables ANSI colours in the text format: class names, RST
	// segments in red, retransmissions in yellow. Set it only when the
	// output is a terminal.
	Color bool

	// ASCII draws the text ladder with "->" and "<-" instead of box-drawing
	// arrows, and "..." instead of "…".
	ASCII bool

	// TextBuffer is how many bytes of rendered flow blocks the text format
	// holds back so that it can print the summary first and the flows in id
	// order. 0 means 8 MiB; a negative value streams from the start.
	TextBuffer int

	// TimeWait is the TIME_WAIT length the analyzer used (--time-wait),
	// for the findings; 0 means 60 s.
	TimeWait time.Duration
}

// DefaultTextBuffer is the TextBuffer used when Options.TextBuffer is 0.
const DefaultTextBuffer = 8 << 20

// ErrClosed is returned by a Writer used after Close.
var ErrClosed = errors.New("report: writer closed")

// Writer renders flows in one format as they arrive. It is not safe for
// concurrent use.
type Writer struct {
	out  io.Writer
	fmt  Format
	opts Options
	err  error // first write error, sticky
	done bool

	sum      summary
	find     findings  // records for the findings, from every flow
	findings []Finding // computed by Close
	doc      docState  // markdown, html

	// json
	jsonStarted bool
	jsonFlows   int
	jsonBuf     []byte   // the flow being written, reused
	jsonKeys    []string // scratch for sorting a flow's decisive frames
	jsonNames   [][]byte // Options.Inputs as JSON strings, made when first needed
	jsonClock   clock    // the last second of a time written

	// text
	text      textScratch
	textBuf   []byte     // the flow being rendered, reused
	held      []heldText // flow blocks held back
	heldText  [][]byte   // their bytes, in chunks (see heldChunk)
	heldLen   int        // bytes held
	streaming bool
}

// heldText locates a held text flow block in Writer.heldText.
type heldText struct {
	id, chunk  int
	start, end int
}

// heldChunk is the size of the chunks the text blocks are held in: held
// in one array, they would be copied each time it grew, and the copies
// would make the heap twice what is held while it nears TextBuffer.
const heldChunk = 256 << 10

type heldBlock struct {
	id   int
	text []byte
}

// NewWriter returns a Writer that renders to out in format f.
func NewWriter(out io.Writer, f Format, opts Options) *Writer {
	w := &Writer{out: out, fmt: f, opts: opts}
	w.find.timeWait = opts.TimeWait
	w.find.plots = f == HTML
	switch f {
	case JSON, NDJSON:
		w.sum.list = listAll
	case Markdown, HTML:
		w.sum.list = listNone
	default:
		w.sum.list = listFirst // text, and what renders as text
	}
	if f != Text {
		w.opts.Color = false
	}
	if opts.TextBuffer == 0 {
		w.opts.TextBuffer = DefaultTextBuffer
	}
	w.streaming = w.opts.TextBuffer < 0
	return w
}

// WriteFlow counts f in the summary and renders it if the filter (and, for
// text, Options.All) selects it. It does not keep f. Once a write has
// failed, WriteFlow only returns that error.
func (w *Writer) WriteFlow(f *analyzer.Flow) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.sum.add(f)
	w.find.add(f)
	if !w.opts.Filter.Match(f) {
		return nil
	}
	w.sum.selected++
	switch w.fmt {
	case JSON:
		w.writeJSONFlow(f)
	case NDJSON:
		w.writeNDJSONFlow(f)
	case Markdown, HTML:
		shown := w.Renders(f)
		if shown {
			w.sum.shown++
		}
		w.writeDocFlow(f, shown)
	default:
		if w.Renders(f) {
			w.sum.shown++
			w.writeTextFlow(f)
		}
	}
	return w.err
}

// InStartOrder says that the flows still to come are written in the order
// they started, as analyzer.Analyzer.Close emits them: none starts before
// the one written before it; and, when last is not 0, that none of them
// has a segment after last, the capture's last timestamp. The findings then
// count their port and TIME_WAIT occupancies up to each flow's start
// instead of holding the spans of a TIME_WAIT length of flows, which at
// the end of a capture are all the flows still open, and keep no end
// after last. Should the capture's clock have gone back, a flow that
// starts before the one before it is counted as one that lasted longer
// than the lag is (see occupancy).
func (w *Writer) InStartOrder(last int64) {
	w.find.startOrder = true
	w.find.lastStart = last
}

// Close writes what remains (the held text blocks, the summary, the end of
// the JSON document) with the inputs' final counters and the analyzer's
// statistics, and returns the first write error. It does not close the
// underlying writer.
func (w *Writer) Close(inputs []capture.Input, stats analyzer.Stats) error {
	if w.done {
		return ErrClosed
	}
	w.done = true
	if w.err != nil {
		return w.err
	}
	w.sum.finish(inputs, stats)
	w.findings = w.find.compute()
	switch w.fmt {
	case JSON:
		w.closeJSON(inputs, stats)
	case NDJSON:
		w.closeNDJSON(inputs, stats)
	case Markdown:
		w.closeMarkdown(inputs)
	case HTML:
		w.closeHTML(inputs)
	default:
		w.closeText(inputs, stats)
	}
	return w.err
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.out.Write(b); err != nil {
		w.err = fmt.Errorf("writing report: %w", err)
	}
}

// notable reports whether the text format shows flows of class c by
// default.
func notable(c analyzer.Class) bool {
	return c != analyzer.ClassFourWay && c != analyzer.ClassOpen
}

// inputName returns the name of input i as given, or "input#i" when the
// index is out of range.
func (w *Writer) inputName(i int) string { return inputName(w.opts.Inputs, i) }

func inputName(inputs []string, i int) string {
	if i >= 0 && i < len(inputs) {
		return inputs[i]
	}
	return fmt.Sprintf("input#%d", i)
}

// multi reports whether frames are cited with their file.
func (w *Writer) multi() bool { return len(w.opts.Inputs) > 1 }

// cite returns the text form of a frame reference (see FrameNamer). The
// file name is not sanitized.
func (w *Writer) cite(r analyzer.FrameRef) string { return citeFrame(w.opts.Inputs, r) }

func citeFrame(inputs []string, r analyzer.FrameRef) string {
	if r.Frame <= 0 {
		return "?"
	}
	if len(inputs) > 1 {
		return inputName(inputs, r.File) + ":" + strconv.FormatInt(r.Frame, 10)
	}
	return strconv.FormatInt(r.Frame, 10)
}

// FrameNamer returns the function that cites frames the way the report
// does, for analyzer.Config.FrameName: "12" with one input, "a.pcap:12"
// with several (inputs are the names given to capture.Open), "?" for an
// unknown frame. The names are not sanitized: the report does that when it
// prints the verdict.
func FrameNamer(inputs []string) func(analyzer.FrameRef) string {
	inputs = slices.Clone(inputs)
	return func(r analyzer.FrameRef) string { return citeFrame(inputs, r) }
}
