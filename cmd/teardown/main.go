// Command teardown reads packet captures and tells, for every TCP
// connection in them, how it ended: a clean four-way close, a simultaneous
// close, an RST abort, a lost final ACK, a connection left in CLOSE_WAIT,
// and which host holds TIME_WAIT until when.
//
// Usage:
//
//	teardown [flags] FILE...
//
// Run teardown --help for the flags and the classes.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
	"teardown/report"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The heap is mostly flows waiting out TIME_WAIT, long-lived and
		// few pointers: collecting at 1.5x the live heap instead of 2x
		// costs about 10% more time and saves a third of the memory
		// (scripts/bench.sh).
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailOn = 1 // a flow matched --fail-on
	exitError  = 2 // usage or input error
)

// maxWarnings is how many capture warnings are printed; the rest are
// counted.
const maxWarnings = 100

// classHelp describes each class for --help.
var classHelp = map[analyzer.Class]string{
	analyzer.ClassFourWay:       "both sides sent FIN, both FINs acknowledged, no RST",
	analyzer.ClassSimultaneous:  "both sides sent FIN before receiving the other's",
	analyzer.ClassRSTAbort:      "a side that never sent FIN reset the connection (SO_LINGER 0, close with unread data)",
	analyzer.ClassRSTAfterClose: "a side that had closed answered later data with RST",
	analyzer.ClassRefused:       "a SYN answered by RST",
	analyzer.ClassLostACK:       "the final ACK was lost, so the FIN was sent again",
	analyzer.ClassLostFIN:       "a FIN was lost and sent again",
	analyzer.ClassFINRetransmit: "a FIN was sent again; the capture cannot tell which segment was lost",
	analyzer.ClassLateDuplicate: "a segment of an earlier incarnation of the 5-tuple arrived",
	analyzer.ClassCloseWait:     "one FIN acknowledged, the other side never closed (CLOSE_WAIT)",
	analyzer.ClassFINWait:       "a FIN never acknowledged",
	analyzer.ClassOpen:          "the capture ended before any close",
}

// usageError is a problem with the command line: exit status 2 and a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// options is the parsed command line.
type options struct {
	files    []string
	format   report.Format
	output   string // "" or "-": standard output
	filter   report.Filter
	all      bool
	failOn   []analyzer.Class
	timeWait time.Duration
	noColor  bool
	ascii    bool
	capture  *capture.Filter // -f: frames to keep; nil keeps all
	evidence string          // --write-pcap (or -o FILE.pcapng): evidence pcapng
}

func newFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("teardown", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringP("format", "F", "", "output `FORMAT`: text, json, ndjson, markdown or html (default text, or guessed from the -o file's extension: .txt .json .ndjson .md .html; .pcapng means --write-pcap)")
	fs.StringP("output", "o", "", "write the report to `FILE` instead of standard output")
	fs.String("write-pcap", "", "write the packets of the selected flows (--class, --flow, --stream) to pcapng `FILE`, each flow's verdict a comment on its first packet (files only: the inputs are read twice)")
	fs.Bool("all", false, "text: show every flow, four-way and open ones included")
	fs.StringSlice("class", nil, "show only flows of these `CLASSES` (comma-separated)")
	fs.Int("flow", 0, "show only the flow with this `ID`")
	fs.Int("stream", 0, "show only the flow with this tcp.stream index `N` (as Wireshark numbers them)")
	fs.StringSlice("fail-on", nil, "exit with status 1 if any flow has one of these `CLASSES`")
	fs.Duration("time-wait", 60*time.Second, "the `DURATION` of TIME_WAIT on the active closer (Linux: 60s)")
	fs.Bool("no-color", false, "no colour, even on a terminal (also: NO_COLOR set in the environment)")
	fs.Bool("ascii", false, "text: draw the ladder with ASCII only")
	addLiveFlags(fs)
	// For developers (scripts/pgo.sh): not in --help.
	fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE` (go tool pprof)")
	_ = fs.MarkHidden("cpuprofile")
	return fs
}

func printUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprint(w, `Usage: teardown [flags] FILE...

teardown reads packet captures (pcap or pcapng, optionally gzip-compressed,
"-" for standard input; several files are merged by timestamp) and tells,
for every TCP connection, how it ended: who closed first, how, what went
wrong, and which host holds TIME_WAIT or CLOSE_WAIT.

Flags:
`)
	fmt.Fprint(w, fs.FlagUsages())
	fmt.Fprint(w, "\nClasses (--class, --fail-on):\n")
	for _, c := range analyzer.Classes() {
		fmt.Fprintf(w, "  %-16s %s\n", c, classHelp[c])
	}
	fmt.Fprint(w, `
The text report shows a summary and then every flow whose class is not
four-way or open (--all shows them too); json holds every flow. --class,
--flow and --stream select flows in every format.

Exit status: 0 ok, 1 a flow matched --fail-on, 2 usage or input error.
`)
}

// parseArgs turns the command line into options. It returns pflag.ErrHelp
// for --help and a *usageError for anything wrong.
func parseArgs(fs *pflag.FlagSet, args []string) (*options, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	o := &options{files: fs.Args()}
	if len(o.files) == 0 && !liveWanted(fs) {
		return nil, usagef("no capture file given")
	}
	stdin := 0
	for _, f := range o.files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return nil, usagef(`standard input ("-") given %d times`, stdin)
	}

	o.output, _ = fs.GetString("output")
	o.evidence, _ = fs.GetString("write-pcap")
	format, _ := fs.GetString("format")
	if !fs.Changed("format") && strings.EqualFold(filepath.Ext(o.output), ".pcapng") {
		if o.evidence != "" {
			return nil, usagef("-o %s and --write-pcap %s: give the evidence file once", o.output, o.evidence)
		}
		o.evidence, o.output = o.output, ""
	}
	if o.evidence != "" && stdin > 0 {
		return nil, usagef(`--write-pcap reads the inputs twice, which standard input ("-") cannot be; save the capture to a file first`)
	}
	switch {
	case fs.Changed("format"):
		f, err := report.ParseFormat(format)
		if err != nil {
			return nil, usagef("--format: %v", err)
		}
		o.format = f
	case o.output != "" && o.output != "-":
		if f, ok := report.FormatForPath(o.output); ok {
			o.format = f
		}
	}

	var err error
	names, _ := fs.GetStringSlice("class")
	if o.filter.Classes, err = parseClasses(names); err != nil {
		return nil, usagef("--class: %v", err)
	}
	names, _ = fs.GetStringSlice("fail-on")
	if o.failOn, err = parseClasses(names); err != nil {
		return nil, usagef("--fail-on: %v", err)
	}
	if fs.Changed("flow") {
		id, _ := fs.GetInt("flow")
		if id < 1 {
			return nil, usagef("--flow: flow ids start at 1, got %d", id)
		}
		o.filter.FlowID = id
	}
	if fs.Changed("stream") {
		n, _ := fs.GetInt("stream")
		if n < 0 {
			return nil, usagef("--stream: stream indexes start at 0, got %d", n)
		}
		o.filter.Stream = &n
	}
	if o.timeWait, _ = fs.GetDuration("time-wait"); o.timeWait <= 0 {
		return nil, usagef("--time-wait: must be positive, got %v", o.timeWait)
	}
	o.all, _ = fs.GetBool("all")
	o.noColor, _ = fs.GetBool("no-color")
	o.ascii, _ = fs.GetBool("ascii")
	return o, nil
}

// parseClasses parses class names, ignoring empty ones ("a,,b").
func parseClasses(names []string) ([]analyzer.Class, error) {
	var cs []analyzer.Class
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		c, err := analyzer.ParseClass(n)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// run is teardown's main: it parses args, analyses the captures, writes the
// report to stdout (or -o) and diagnostics to stderr, and returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet()
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help is printed to stdout below; errors get a hint
	o, err := parseArgs(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		printUsage(stdout, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "teardown: %s\nRun 'teardown --help' for usage.\n", report.Sanitize(err.Error()))
		return exitError
	}
	if path, _ := fs.GetString("cpuprofile"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "teardown: %s\n", report.Sanitize(err.Error()))
			return exitError
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(stderr, "teardown: %s\n", report.Sanitize(err.Error()))
			}
		}()
	}
	if status, ok := maybeLive(fs, o, stdout, stderr); ok {
		return status
	}
	status, err := analyze(o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "teardown: %s\n", report.Sanitize(err.Error()))
		return exitError
	}
	return status
}

// startCPUProfile starts writing a CPU profile to path; stop ends it and
// closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// analyze runs the pipeline: capture → analyzer → report. It returns the
// exit status, or an error for a fatal input or output problem (after
// writing the report of what could be read).
func analyze(o *options, stdout, stderr io.Writer) (int, error) {
	warnings := 0
	warn := func(w capture.Warning) {
		warnings++
		if warnings <= maxWarnings {
			fmt.Fprintf(stderr, "teardown: warning: %s\n", report.Sanitize(warningText(w)))
		}
	}
	r, err := capture.Open(o.files, warn)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	r.SetFilter(o.capture)

	// Open the output only once the inputs are known to be readable, so a
	// typo in a capture name does not clobber an earlier report.
	out := stdout
	var outFile *os.File
	if o.output != "" && o.output != "-" {
		outFile, err = os.Create(o.output)
		if err != nil {
			return 0, err
		}
		defer outFile.Close()
		out = outFile
	}

	// One write per flow costs a system call per flow: to anything but a
	// terminal the report goes in blocks, as tcpdump and tshark write.
	var buf *bufio.Writer
	rw, term := io.Writer(out), isTerminal(out)
	if !term {
		buf = bufio.NewWriterSize(out, outBuffer)
		rw = buf
	}
	w := report.NewWriter(rw, o.format, report.Options{
		Inputs:   o.files,
		Filter:   o.filter,
		All:      o.all,
		Color:    o.format == report.Text && !o.noColor && os.Getenv("NO_COLOR") == "" && term,
		ASCII:    o.ascii,
		TimeWait: o.timeWait,
	})

	failOn := make(map[analyzer.Class]bool, len(o.failOn))
	for _, c := range o.failOn {
		failOn[c] = true
	}
	failed := map[analyzer.Class]int{}
	var writeErr error
	var ev report.Evidence
	a := analyzer.New(analyzer.Config{TimeWait: o.timeWait, FrameName: report.FrameNamer(o.files), Detail: w.Renders, Reuse: true}, func(f *analyzer.Flow) {
		if failOn[f.Class] {
			failed[f.Class]++
		}
		if o.evidence != "" && o.filter.Match(f) {
			ev.Add(f)
		}
		if writeErr == nil {
			writeErr = w.WriteFlow(f)
		}
	})
	var seg reassembly.Segment
	for writeErr == nil && r.Next(&seg) {
		a.Add(&seg)
	}
	readErr := r.Err()
	if writeErr == nil {
		// A pcapng file may record when its capture stopped: flows left
		// half-closed were stuck until then, not only until the last frame.
		var end, last int64
		for _, in := range r.Inputs() {
			end, last = max(end, in.EndAt), max(last, in.LastAt)
		}
		if end > 0 {
			a.Advance(end)
		}
		w.InStartOrder(last)
		a.Close()
	}
	if err := w.Close(r.Inputs(), a.Stats()); writeErr == nil {
		writeErr = err
	}
	if buf != nil {
		if err := buf.Flush(); writeErr == nil {
			writeErr = err
		}
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if warnings > maxWarnings {
		fmt.Fprintf(stderr, "teardown: %d more warnings not shown\n", warnings-maxWarnings)
	}
	if err := errors.Join(readErr, writeErr); err != nil {
		return 0, err
	}
	if o.evidence != "" {
		if _, err := writeEvidence(o.evidence, o.files, o.capture, &ev); err != nil {
			return 0, err
		}
	}
	if len(failed) > 0 {
		var parts []string
		for _, c := range o.failOn {
			if n := failed[c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, c))
				failed[c] = 0 // a class given twice is reported once
			}
		}
		fmt.Fprintf(stderr, "teardown: --fail-on matched: %s\n", strings.Join(parts, ", "))
		return exitFailOn, nil
	}
	return exitOK, nil
}

// outBuffer is the size of the blocks the report is written in.
const outBuffer = 64 << 10

// warningText formats a capture warning, naming the file and the frame or
// offset.
func warningText(w capture.Warning) string {
	if s := w.String(); s != "" {
		return s
	}
	var b strings.Builder
	b.WriteString(w.File)
	if w.Frame > 0 {
		fmt.Fprintf(&b, ": frame %d", w.Frame)
	}
	if w.Offset >= 0 {
		fmt.Fprintf(&b, ": offset %d", w.Offset)
	}
	b.WriteString(": ")
	b.WriteString(w.Msg)
	return b.String()
}

// isTerminal reports whether w is a terminal (see isTerminalFile).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminalFile(f)
}
