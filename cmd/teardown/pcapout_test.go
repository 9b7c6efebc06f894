package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

func TestPcapOutRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cap.pcapng")
	p, err := newPcapOut(path, 1000, 3, 128, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100)
	for i := range 40 {
		fr := &capture.Frame{Number: int64(i + 1), At: time.Unix(1700000000, int64(i)).UnixNano(), Iface: 1 + i%2, IfName: "eth0", Link: reassembly.LinkEthernet, Data: data, Len: 1500}
		if err := p.write(fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		name := path + "." + string(rune('0'+i))
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1000+200 {
			t.Errorf("%s: %d bytes, over the rotation size", name, fi.Size())
		}
		r, err := capture.Open([]string{name}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var seg reassembly.Segment
		for r.Next(&seg) {
		}
		if in := r.Inputs()[0]; in.Frames == 0 || !in.Complete {
			t.Errorf("%s: %d frames, complete %v", name, in.Frames, in.Complete)
		}
		r.Close()
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("a fourth file was written with --rotate-count 3")
	}
	if len(p.names) <= 3 {
		t.Errorf("files started: %v, want more than 3 (wrapped)", p.names)
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"100M": 100 << 20, "1G": 1 << 30, "512k": 512 << 10, "4096": 4096, "2MiB": 2 << 20, "3MB": 3 << 20} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "M", "-1M", "0", "1T", "abc"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) succeeded", s)
		}
	}
}

func TestAnnotateDrops(t *testing.T) {
	lr := &liveRun{drops: []dropPeriod{{from: 100, to: 200, n: 7}}}
	f := &analyzer.Flow{FirstAt: 150, LastAt: 300, Verdict: "Clean."}
	lr.annotate(f)
	if !strings.Contains(f.Verdict, "dropped 7 captured frames") || !strings.Contains(f.Verdict, "capture drop, not a network loss") {
		t.Errorf("verdict %q does not mention the drops", f.Verdict)
	}
	g := &analyzer.Flow{FirstAt: 250, LastAt: 300, Verdict: "Clean."}
	lr.annotate(g)
	if g.Verdict != "Clean." {
		t.Errorf("flow after the drops: verdict %q changed", g.Verdict)
	}
	lr.early = "idle for 5m0s: --idle-timeout"
	lr.annotate(g)
	if !strings.Contains(g.Verdict, "Reported early: idle") {
		t.Errorf("early report not said: %q", g.Verdict)
	}
}

func TestStatusLine(t *testing.T) {
	var b bytes.Buffer
	lr := &liveRun{lo: &liveOptions{iface: "eth0"}, stderr: &b, classes: map[analyzer.Class]int64{analyzer.ClassRSTAbort: 2}}
	lr.stats.Drops = 3
	lr.printStatus(1234, 5000, 7)
	s := b.String()
	for _, want := range []string{"\r\x1b[K", "eth0", "1234 pkt/s", "7 open", "rst-abort 2", "drops 3"} {
		if !strings.Contains(s, want) {
			t.Errorf("status line %q lacks %q", s, want)
		}
	}
	lr.clearStatus()
	if !strings.HasSuffix(b.String(), "\r\x1b[K") || lr.showing {
		t.Error("clearStatus did not clear the line")
	}
}
