package capture

import (
	"path/filepath"
	"testing"

	"teardown/reassembly"
)

// Raw returns, for every segment, the frame it was decoded from, also when
// several inputs are merged and each reads ahead of the merge.
func TestRawMatchesSegment(t *testing.T) {
	dir := filepath.Join("..", "testdata", "pcaps")
	for _, names := range [][]string{
		{"lost-ack.client.pcap"},
		{"lost-ack.client.pcap", "lost-ack.server.pcap", "formats.client.pcapng"},
	} {
		var paths []string
		for _, n := range names {
			paths = append(paths, filepath.Join(dir, n))
		}
		r, err := Open(paths, func(Warning) {})
		if err != nil {
			t.Fatal(err)
		}
		r.KeepRaw()
		var seg, again reassembly.Segment
		var dec reassembly.Decoder
		n := 0
		for r.Next(&seg) {
			fr := r.Raw()
			if res := dec.Decode(fr.Link, fr.Data, &again); res.Status != reassembly.StatusTCP {
				t.Fatalf("%v frame %d: raw frame decodes as %v", names, seg.Frame, res.Status)
			}
			if again.Seq != seg.Seq || again.Ack != seg.Ack || again.Flags != seg.Flags || again.SrcPort != seg.SrcPort ||
				fr.Number != seg.Frame || fr.Len < len(fr.Data) {
				t.Fatalf("%v frame %d: raw frame %d is another segment (seq %d/%d)", names, seg.Frame, fr.Number, again.Seq, seg.Seq)
			}
			n++
		}
		r.Close()
		if n == 0 {
			t.Fatalf("%v: no segments", names)
		}
	}
}
