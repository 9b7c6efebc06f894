package reassembly

import (
	"math/rand/v2"
	"testing"
)

// FuzzDecode checks that Decode never panics and that its results are
// consistent, on any bytes and link type. The corpus is seeded with every
// frame of every capture in testdata/pcaps, the hostile table cases and
// generated frames.
func FuzzDecode(f *testing.F) {
	for _, frames := range pcapFrames(f) {
		for _, fr := range frames {
			f.Add(uint16(fr.link), fr.data)
		}
	}
	for _, tc := range decodeCases(f) {
		f.Add(uint16(tc.link), tc.data)
	}
	for _, fr := range generatedFrames(f, rand.New(rand.NewPCG(5, 6)), 64) {
		f.Add(uint16(fr.link), fr.data)
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		var d Decoder
		seg := Segment{File: 1, Frame: 2, At: 3, Iface: 4}
		res := d.Decode(LinkType(link), data, &seg)
		if seg.File != 1 || seg.Frame != 2 || seg.At != 3 || seg.Iface != 4 {
			t.Fatalf("Decode changed the caller's fields")
		}
		checkInvariants(t, LinkType(link), data, res, &seg)
		if !LinkType(link).Supported() && res != (Result{StatusNotTCP, ReasonLinkType}) {
			t.Fatalf("unsupported link type %d gave %+v", link, res)
		}
		// Decoding is a pure function of its input.
		var again Segment
		again.File, again.Frame, again.At, again.Iface = 1, 2, 3, 4
		if res2 := d.Decode(LinkType(link), data, &again); res2 != res || again != seg {
			t.Fatalf("second decode differs: %+v %+v vs %+v %+v", res2, again, res, seg)
		}
		// Cutting the frame can only lose information: a TCP result from
		// the prefix must agree with the full frame on the base header.
		if res.Status == StatusTCP && len(data) > 0 {
			var cut Segment
			r := d.Decode(LinkType(link), data[:len(data)-1], &cut)
			if r.Status == StatusTCP && (cut.Seq != seg.Seq || cut.SrcPort != seg.SrcPort || cut.Flags != seg.Flags) {
				t.Fatalf("prefix decodes to a different segment: %+v vs %+v", cut, seg)
			}
		}
	})
}
