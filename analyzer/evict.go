package analyzer

import (
	"runtime"
	"slices"
	"time"
)

// This file bounds the memory of a long analysis (a live capture): the
// clock can move without segments, idle flows expire and the number of
// tracked flows is capped.

// Advance moves the analyzer's clock to now (Unix ns, capture time) without
// a segment, and emits the closed flows whose TIME_WAIT has passed by then.
// A live capture calls it with the wall clock, so that verdicts come out
// while the network is quiet. A time earlier than the clock is ignored.
func (a *Analyzer) Advance(now int64) {
	defer runtime.KeepAlive(a) // see mappings.watch
	a.open()
	if now > a.now {
		a.now = now
		a.expire()
	}
}

// Expire finishes every flow that is not closed and has seen no segment for
// idle or longer (by the analyzer's clock), with the verdict the evidence
// supports, as at the end of a capture (open, close-wait, ...). It returns
// how many it emitted. Closed flows wait for their TIME_WAIT as usual.
func (a *Analyzer) Expire(idle time.Duration) int {
	defer runtime.KeepAlive(a) // see mappings.watch
	a.open()
	cut := a.now - int64(idle)
	var old []*core
	a.tuples.each(func(t *tuple) {
		if f := t.cur; f != nil && !f.has(cbEmitted) && !f.has(cbClosed) && f.lastAt <= cut {
			old = append(old, f)
		}
	})
	return a.finishEarly(old)
}

// Evict keeps at most max flows in memory: when more are tracked, it
// finishes the least recently active ones, as at the end of a capture,
// down to nine tenths of max (so that a flood does not make every new
// flow pay for a sort). It returns how many it emitted. max <= 0 means no
// limit.
func (a *Analyzer) Evict(max int) int {
	defer runtime.KeepAlive(a) // see mappings.watch
	a.open()
	if max <= 0 || a.stats.OpenFlows <= max {
		return 0
	}
	var all []*core
	a.tuples.each(func(t *tuple) {
		if f := t.cur; f != nil && !f.has(cbEmitted) {
			all = append(all, f)
		}
	})
	a.queue.each(func(e qent) {
		if f := e.live(); f != nil {
			all = append(all, f)
		}
	})
	slices.SortFunc(all, func(x, y *core) int {
		if x.lastAt != y.lastAt {
			if x.lastAt < y.lastAt {
				return -1
			}
			return 1
		}
		return x.id - y.id
	})
	all = slices.CompactFunc(all, func(x, y *core) bool { return x == y })
	n := a.stats.OpenFlows - max*9/10
	if n > len(all) {
		n = len(all)
	}
	return a.finishEarly(all[:n])
}

// finishEarly emits fs in the order they started.
func (a *Analyzer) finishEarly(fs []*core) int {
	slices.SortFunc(fs, func(x, y *core) int { return x.id - y.id })
	n := 0
	for _, f := range fs {
		if f.has(cbEmitted) {
			continue
		}
		f.set(cbAtEnd, true)
		a.finish(f)
		n++
	}
	return n
}
