package analyzer

import (
	"testing"
	"time"
)

var evictClose = []step{
	{dir: "C>S", flags: "F.", seq: 1, ack: 1},
	{dir: "S>C", flags: ".", seq: 1, ack: 2},
	{dir: "S>C", flags: "F.", seq: 1, ack: 2},
	{dir: "C>S", flags: ".", seq: 2, ack: 2},
}

func TestAdvanceEmitsAfterTimeWait(t *testing.T) {
	var got []*Flow
	a := New(Config{TimeWait: time.Second}, func(f *Flow) { got = append(got, f) })
	ss := segs(40000, int64(time.Hour), with(handshake, evictClose))
	for i := range ss {
		a.Add(&ss[i])
	}
	last := ss[len(ss)-1].At
	a.Advance(last + int64(500*time.Millisecond))
	if len(got) != 0 {
		t.Fatalf("emitted %d flows before TIME_WAIT passed", len(got))
	}
	a.Advance(last - int64(time.Minute)) // the past: ignored
	a.Advance(last + int64(1100*time.Millisecond))
	if len(got) != 1 || got[0].Class != ClassFourWay {
		t.Fatalf("after TIME_WAIT: got %d flows (%v), want one four-way", len(got), got)
	}
	if s := a.Stats(); s.OpenFlows != 0 {
		t.Errorf("OpenFlows = %d, want 0", s.OpenFlows)
	}
}

func TestExpireIdle(t *testing.T) {
	var got []*Flow
	a := New(Config{TimeWait: time.Second}, func(f *Flow) { got = append(got, f) })
	idle := segs(40000, int64(time.Hour), handshake)
	busy := segs(40001, int64(time.Hour)+int64(10*time.Second), handshake)
	closed := segs(40002, int64(time.Hour)+int64(10*time.Second), with(handshake, evictClose))
	for i := range idle {
		a.Add(&idle[i])
	}
	for i := range busy {
		a.Add(&busy[i])
	}
	for i := range closed {
		a.Add(&closed[i])
	}
	if n := a.Expire(5 * time.Second); n != 1 {
		t.Fatalf("Expire emitted %d flows, want 1 (the idle one)", n)
	}
	if got[0].Client.Port != 40000 || got[0].Class != ClassOpen {
		t.Errorf("expired flow: client port %d class %s, want 40000 open", got[0].Client.Port, got[0].Class)
	}
	// The same 5-tuple becomes active again: a new flow, not the emitted one.
	again := segs(40000, int64(time.Hour)+int64(20*time.Second), []step{{dir: "C>S", flags: "P.", seq: 1, ack: 1, len: 10}})
	a.Add(&again[0])
	a.Close()
	if len(got) != 4 {
		t.Fatalf("got %d flows in all, want 4", len(got))
	}
}

func TestEvictOldest(t *testing.T) {
	var got []*Flow
	a := New(Config{}, func(f *Flow) { got = append(got, f) })
	for p := range 100 {
		ss := segs(uint16(40000+p), int64(time.Hour)+int64(p)*int64(time.Millisecond), handshake)
		for i := range ss {
			a.Add(&ss[i])
		}
		a.Evict(50)
		if o := a.Stats().OpenFlows; o > 50 {
			t.Fatalf("after flow %d: %d open flows, cap 50", p, o)
		}
	}
	// The evicted ones are the oldest.
	for i, f := range got {
		if f.Client.Port != uint16(40000+i) {
			t.Fatalf("evicted #%d is port %d, want %d (oldest first)", i, f.Client.Port, 40000+i)
		}
		if f.Class != ClassOpen {
			t.Errorf("evicted flow class %s, want open", f.Class)
		}
	}
	if a.Evict(0) != 0 {
		t.Error("Evict(0) evicted flows; 0 means no limit")
	}
	a.Close()
	if len(got) != 100 {
		t.Errorf("got %d flows in all, want 100", len(got))
	}
}
