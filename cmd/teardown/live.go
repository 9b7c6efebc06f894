package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
	"teardown/report"
)

// liveOptions is the part of the command line for live capture (-i).
type liveOptions struct {
	iface       string
	snaplen     int
	buffer      int // bytes
	promisc     bool
	filter      *capture.Filter
	duration    time.Duration
	count       int64
	write       string
	rotate      int64
	rotateCount int
	idle        time.Duration
	maxFlows    int
	status      bool // force the status line (default: when stderr is a terminal)

	// ready, if set, is called once the capture is open and SIGINT and
	// SIGTERM are caught (for tests).
	ready func()
}

// Live capture defaults.
const (
	defaultIdleTimeout = 5 * time.Minute
	defaultMaxFlows    = 1 << 20
	statusEvery        = time.Second
)

// addLiveFlags registers the live capture flags.
func addLiveFlags(fs *pflag.FlagSet) {
	fs.StringP("interface", "i", "", "capture live on `IFACE` (\"any\": every interface) instead of reading files; needs CAP_NET_RAW")
	fs.StringP("filter", "f", "", "capture filter `EXPR` in tcpdump syntax (default: tcp); also filters files; compiled with tcpdump -ddd")
	fs.Int("snaplen", capture.DefaultSnaplen, "live: bytes kept of each frame (the headers are enough)")
	fs.Int("buffer", capture.DefaultBuffer>>20, "live: kernel ring size in `MiB`")
	fs.Bool("promisc", false, "live: put the interface in promiscuous mode")
	fs.Duration("duration", 0, "live: stop after `DURATION` (default: until SIGINT or SIGTERM)")
	fs.Int64P("count", "c", 0, "live: stop after `N` frames")
	fs.StringP("write", "w", "", "live: also write the captured frames to pcapng `FILE`")
	fs.String("rotate", "", "live: with -w, start a new file when one reaches `SIZE` (e.g. 100M); files are FILE.0, FILE.1, ...")
	fs.Int("rotate-count", 10, "live: with --rotate, keep `N` files, overwriting the oldest")
	fs.Duration("idle-timeout", defaultIdleTimeout, "live: report a flow silent for `DURATION` as open and forget it")
	fs.Int("max-flows", defaultMaxFlows, "live: track at most `N` flows; the least recently active are reported as open and forgotten")
	fs.Bool("status", false, "live: show the status line on stderr even when it is not a terminal")
}

// liveFlags are the flags that only make sense with -i.
var liveFlags = []string{"snaplen", "buffer", "promisc", "duration", "count", "write", "rotate", "rotate-count", "idle-timeout", "max-flows", "status"}

// liveWanted reports whether the command line asks for a live capture.
func liveWanted(fs *pflag.FlagSet) bool { return fs.Changed("interface") }

// maybeLive runs a live capture if -i was given. It reports whether it
// handled the command.
func maybeLive(fs *pflag.FlagSet, o *options, stdout, stderr io.Writer) (int, bool) {
	lo, err := parseLiveArgs(fs, o)
	if err != nil {
		fmt.Fprintf(stderr, "teardown: %s\nRun 'teardown --help' for usage.\n", report.Sanitize(err.Error()))
		return exitError, true
	}
	if lo == nil {
		// Reading files: -f filters them too.
		if o.capture, err = filterFlag(fs); err != nil {
			fmt.Fprintf(stderr, "teardown: %s\nRun 'teardown --help' for usage.\n", report.Sanitize(err.Error()))
			return exitError, true
		}
		return 0, false
	}
	status, err := runLive(context.Background(), o, lo, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "teardown: %s\n", report.Sanitize(err.Error()))
		return exitError, true
	}
	return status, true
}

// parseLiveArgs reads the live flags. It returns nil, nil without -i.
func parseLiveArgs(fs *pflag.FlagSet, o *options) (*liveOptions, error) {
	if !liveWanted(fs) {
		for _, n := range liveFlags {
			if fs.Changed(n) {
				return nil, usagef("--%s needs -i (live capture)", n)
			}
		}
		return nil, nil
	}
	lo := &liveOptions{}
	lo.iface, _ = fs.GetString("interface")
	if lo.iface == "" {
		return nil, usagef("-i: no interface given")
	}
	if len(o.files) > 0 {
		return nil, usagef("-i captures live: do not also give capture files (%s)", o.files[0])
	}
	lo.snaplen, _ = fs.GetInt("snaplen")
	if lo.snaplen < 64 || lo.snaplen > capture.MaxRecord {
		return nil, usagef("--snaplen: must be between 64 and %d, got %d", capture.MaxRecord, lo.snaplen)
	}
	mib, _ := fs.GetInt("buffer")
	if mib < 1 || mib > 1<<14 {
		return nil, usagef("--buffer: must be between 1 and %d MiB, got %d", 1<<14, mib)
	}
	lo.buffer = mib << 20
	lo.promisc, _ = fs.GetBool("promisc")
	if lo.promisc && lo.iface == capture.AnyInterface {
		return nil, usagef("--promisc needs one interface, not \"any\"")
	}
	lo.duration, _ = fs.GetDuration("duration")
	if lo.duration < 0 {
		return nil, usagef("--duration: must not be negative")
	}
	lo.count, _ = fs.GetInt64("count")
	if lo.count < 0 {
		return nil, usagef("--count: must not be negative")
	}
	lo.write, _ = fs.GetString("write")
	if s, _ := fs.GetString("rotate"); s != "" {
		if lo.write == "" {
			return nil, usagef("--rotate needs -w")
		}
		n, err := parseSize(s)
		if err != nil {
			return nil, usagef("--rotate: %v", err)
		}
		lo.rotate = n
	}
	lo.rotateCount, _ = fs.GetInt("rotate-count")
	if lo.rotateCount < 1 {
		return nil, usagef("--rotate-count: must be at least 1")
	}
	lo.idle, _ = fs.GetDuration("idle-timeout")
	if lo.idle <= 0 {
		return nil, usagef("--idle-timeout: must be positive")
	}
	lo.maxFlows, _ = fs.GetInt("max-flows")
	if lo.maxFlows < 1 {
		return nil, usagef("--max-flows: must be at least 1")
	}
	lo.status, _ = fs.GetBool("status")
	f, err := filterFlag(fs)
	if err != nil {
		return nil, err
	}
	lo.filter = f
	return lo, nil
}

// filterFlag compiles -f, or returns nil without it.
func filterFlag(fs *pflag.FlagSet) (*capture.Filter, error) {
	expr, _ := fs.GetString("filter")
	if !fs.Changed("filter") {
		return nil, nil
	}
	f, err := capture.CompileFilter(expr)
	if err != nil {
		return nil, usagef("-f: %v", err)
	}
	return f, nil
}

// dropPeriod is a stretch of wall time in which the kernel dropped frames.
type dropPeriod struct {
	from, to int64 // Unix ns
	n        uint64
}

// liveRun is the state of one live capture.
type liveRun struct {
	lo       *liveOptions
	stderr   io.Writer
	start    time.Time
	drops    []dropPeriod
	stats    capture.LiveStats
	lastTick time.Time
	lastShow time.Time
	lastPkts int64
	classes  map[analyzer.Class]int64
	expired  int64 // flows reported by --idle-timeout
	evicted  int64 // flows reported by --max-flows
	early    string
	showing  bool // a status line is on the terminal
}

// runLive captures on an interface until ctx ends, SIGINT or SIGTERM,
// --duration or --count, writing each flow's verdict as soon as it is
// final, then finishes every open flow and writes the summary. A stop by
// signal is a normal end: the exit status is 0 (or 1 for --fail-on).
func runLive(ctx context.Context, o *options, lo *liveOptions, stdout, stderr io.Writer) (int, error) {
	warnings := 0
	warn := func(w capture.Warning) {
		warnings++
		if warnings <= maxWarnings {
			fmt.Fprintf(stderr, "teardown: warning: %s\n", report.Sanitize(warningText(w)))
		}
	}
	var pout *pcapOut
	var writeErr error
	cfg := capture.LiveConfig{
		Interface: lo.iface,
		Snaplen:   lo.snaplen,
		Buffer:    lo.buffer,
		Promisc:   lo.promisc,
		Filter:    lo.filter,
		Count:     lo.count,
	}
	if lo.write != "" {
		cfg.OnFrame = func(fr *capture.Frame) {
			if writeErr == nil {
				writeErr = pout.write(fr)
			}
		}
	}
	live, err := capture.OpenLive(cfg, warn)
	if err != nil {
		return 0, err
	}
	defer live.Close()
	if lo.write != "" {
		filter := capture.DefaultFilterExpr
		if lo.filter != nil {
			filter = lo.filter.String()
		}
		if pout, err = newPcapOut(lo.write, lo.rotate, lo.rotateCount, lo.snaplen, filter); err != nil {
			return 0, err
		}
		defer pout.Close()
	}

	out := stdout
	var outFile *os.File
	if o.output != "" && o.output != "-" {
		if outFile, err = os.Create(o.output); err != nil {
			return 0, err
		}
		defer outFile.Close()
		out = outFile
	}
	// Frames are cited by their number in the -w file (or in the capture).
	inputName := lo.iface
	if lo.write != "" && lo.rotate == 0 {
		inputName = lo.write
	}
	inputs := []string{inputName}
	w := report.NewWriter(out, o.format, report.Options{
		Inputs:     inputs,
		Filter:     o.filter,
		All:        o.all,
		Color:      o.format == report.Text && !o.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(out),
		ASCII:      o.ascii,
		TextBuffer: -1, // stream: each verdict as it is final
		TimeWait:   o.timeWait,
	})

	lr := &liveRun{lo: lo, stderr: stderr, start: time.Now(), classes: map[analyzer.Class]int64{}}
	lr.lastTick, lr.lastShow = lr.start, lr.start
	showStatus := lo.status || isTerminal(stderr)

	failOn := make(map[analyzer.Class]bool, len(o.failOn))
	for _, c := range o.failOn {
		failOn[c] = true
	}
	failed := map[analyzer.Class]int{}
	a := analyzer.New(analyzer.Config{TimeWait: o.timeWait, FrameName: report.FrameNamer(inputs), Detail: w.Renders, Reuse: true}, func(f *analyzer.Flow) {
		lr.classes[f.Class]++
		if failOn[f.Class] {
			failed[f.Class]++
		}
		lr.annotate(f)
		lr.clearStatus()
		if err := w.WriteFlow(f); err != nil && writeErr == nil {
			writeErr = err
		}
	})

	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if lo.duration > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, lo.duration)
		defer cancelT()
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			live.Stop()
		case <-stopped:
		}
	}()
	defer close(stopped)
	if lo.ready != nil {
		lo.ready()
	}

	var seg reassembly.Segment
	var readErr error
	var last int64 // the latest segment's time
	for writeErr == nil {
		ok, err := live.Next(&seg)
		if err != nil {
			if !errors.Is(err, capture.ErrStopped) {
				readErr = err
			}
			break
		}
		if ok {
			last = max(last, seg.At)
			a.Add(&seg)
			if a.Stats().OpenFlows > lo.maxFlows {
				lr.early = "evicted: --max-flows reached"
				lr.evicted += int64(a.Evict(lo.maxFlows))
				lr.early = ""
			}
		}
		if now := time.Now(); now.Sub(lr.lastTick) >= statusEvery {
			lr.tick(now, live, a)
			if pout != nil && writeErr == nil {
				writeErr = pout.flush()
			}
			if showStatus {
				lr.showStatus(now, live, a)
			}
		}
	}
	lr.clearStatus()
	lr.sample(time.Now(), live)
	if writeErr == nil {
		w.InStartOrder(last)
		a.Close()
	}
	in := live.Input()
	kernel := lr.stats
	in.Live = &kernel
	if err := w.Close([]capture.Input{in}, a.Stats()); writeErr == nil {
		writeErr = err
	}
	if pout != nil {
		if err := pout.Close(); writeErr == nil {
			writeErr = err
		}
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	lr.summary(stderr, in, pout)
	if warnings > maxWarnings {
		fmt.Fprintf(stderr, "teardown: %d more warnings not shown\n", warnings-maxWarnings)
	}
	if err := errors.Join(readErr, writeErr); err != nil {
		return 0, err
	}
	if len(failed) > 0 {
		var parts []string
		for _, c := range o.failOn {
			if n := failed[c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, c))
				failed[c] = 0
			}
		}
		fmt.Fprintf(stderr, "teardown: --fail-on matched: %s\n", strings.Join(parts, ", "))
		return exitFailOn, nil
	}
	return exitOK, nil
}

// tick runs once a second: kernel counters, the analyzer's clock, idle
// flows.
func (lr *liveRun) tick(now time.Time, live *capture.Live, a *analyzer.Analyzer) {
	lr.sample(now, live)
	a.Advance(now.UnixNano())
	lr.early = fmt.Sprintf("idle for %s: --idle-timeout", lr.lo.idle)
	lr.expired += int64(a.Expire(lr.lo.idle))
	lr.early = ""
}

// sample reads the kernel counters and records a drop period when they
// grew.
func (lr *liveRun) sample(now time.Time, live *capture.Live) {
	st, err := live.Stats()
	if err != nil {
		return
	}
	if st.Drops > lr.stats.Drops {
		from := lr.lastTick.UnixNano()
		lr.drops = append(lr.drops, dropPeriod{from: from, to: now.UnixNano(), n: st.Drops - lr.stats.Drops})
	}
	lr.stats = st
	lr.lastTick = now
}

// annotate adds to a verdict what the live capture knows and the analyzer
// does not: kernel drops while the flow was closing, and why a flow was
// reported before its end.
func (lr *liveRun) annotate(f *analyzer.Flow) {
	if lr.early != "" {
		f.Verdict += " (Reported early: " + lr.early + ".)"
	}
	var n uint64
	var from, to int64
	for _, d := range lr.drops {
		if d.to >= f.FirstAt && d.from <= f.LastAt {
			if n == 0 {
				from = d.from
			}
			n += d.n
			to = d.to
		}
	}
	if n > 0 {
		f.Verdict += fmt.Sprintf(" The kernel dropped %d captured frames between %s and %s, while this flow was active: a segment missing here may be a capture drop, not a network loss.",
			n, time.Unix(0, from).UTC().Format("15:04:05.000"), time.Unix(0, to).UTC().Format("15:04:05.000"))
	}
}

// showStatus writes the status line: frames per second, open flows, flows
// per class so far, kernel drops.
func (lr *liveRun) showStatus(now time.Time, live *capture.Live, a *analyzer.Analyzer) {
	in := live.Input()
	rate := float64(in.Frames-lr.lastPkts) / now.Sub(lr.lastShow).Seconds()
	lr.lastPkts, lr.lastShow = in.Frames, now
	lr.printStatus(rate, in.Frames, a.Stats().OpenFlows)
}

func (lr *liveRun) printStatus(rate float64, frames int64, open int) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %.0f pkt/s  %d frames  %d open", lr.lo.iface, rate, frames, open)
	for _, c := range analyzer.Classes() {
		if n := lr.classes[c]; n > 0 {
			fmt.Fprintf(&b, "  %s %d", c, n)
		}
	}
	fmt.Fprintf(&b, "  drops %d", lr.stats.Drops)
	fmt.Fprintf(lr.stderr, "\r\x1b[K%s", report.Sanitize(b.String()))
	lr.showing = true
}

func (lr *liveRun) clearStatus() {
	if lr.showing {
		fmt.Fprint(lr.stderr, "\r\x1b[K")
		lr.showing = false
	}
}

// summary writes the capture's own counters to stderr: the report's
// summary does not know about the kernel.
func (lr *liveRun) summary(w io.Writer, in capture.Input, pout *pcapOut) {
	fmt.Fprintf(w, "teardown: %s: %d frames captured, %d received by the filter, %d dropped by the kernel", lr.lo.iface, in.Frames, lr.stats.Received, lr.stats.Drops)
	if lr.stats.Freezes > 0 {
		fmt.Fprintf(w, " (%d queue freezes)", lr.stats.Freezes)
	}
	fmt.Fprintf(w, " in %s\n", time.Since(lr.start).Round(time.Millisecond))
	if lr.expired > 0 || lr.evicted > 0 {
		fmt.Fprintf(w, "teardown: %d flows reported early after --idle-timeout, %d evicted by --max-flows\n", lr.expired, lr.evicted)
	}
	if pout != nil {
		fmt.Fprintf(w, "teardown: frames written to %s\n", strings.Join(pout.names, ", "))
	}
}
