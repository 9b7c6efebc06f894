package capture

import (
	"os"
	"path/filepath"
	"testing"

	"teardown/reassembly"
)

// FuzzReader feeds arbitrary bytes to the reader, alone and merged with a
// valid capture. It must never panic or fail fatally (the data is in
// memory, so every problem is a content problem), and the counters and
// frame numbers must stay consistent.
func FuzzReader(f *testing.F) {
	recs := mixed(f, 6, t0, 1)
	f.Add(pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs))
	f.Add(pcapBytes(true, true, reassembly.LinkEthernet, 60, recs))
	f.Add(ngMixed(f, false, recs))
	f.Add(ngMixed(f, true, recs))
	f.Add(gz(f, pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs)))
	w := newNg(false)
	w.iface(reassembly.LinkLinuxSLL2, 0, 0x80|30, 5)
	w.spb(sll2Frame(f, 1))
	w.pb(0, 1, sll2Frame(f, 2))
	f.Add(w.b)
	names, _ := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "*"))
	for _, name := range names {
		if b, err := os.ReadFile(name); err == nil && isCapture(name) && len(b) <= 1<<20 {
			f.Add(b)
		}
	}
	valid := pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, srcs := range [][]Source{
			{src("fuzz", data)},
			{src("valid", valid), src("fuzz", data)},
		} {
			g, err := readAll(t, srcs...)
			if err != nil {
				continue
			}
			if g.err != nil {
				t.Fatalf("fatal error on in-memory data: %v", g.err)
			}
			var last [2]int64
			for _, s := range g.segs {
				in := g.inputs[s.File]
				if s.Frame <= last[s.File] || s.Frame > in.Frames {
					t.Fatalf("frame %d after %d (input has %d frames)", s.Frame, last[s.File], in.Frames)
				}
				last[s.File] = s.Frame
			}
			for _, in := range g.inputs {
				checkCounters(t, in)
			}
			for _, w := range g.warnings {
				if w.File == "" || w.Msg == "" {
					t.Fatalf("warning without file or message: %+v", w)
				}
			}
			if len(srcs) == 2 && g.inputs[0].TCP != int64(len(wantSegs(0, recs))) {
				t.Fatalf("the valid input lost segments: %+v", g.inputs[0])
			}
		}
	})
}
