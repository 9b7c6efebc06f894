package capture

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"teardown/reassembly"
)

// wantSegs returns what a reader must yield for recs of one input: the TCP
// records with their 1-based frame numbers.
func wantSegs(file int, recs []rec) []reassembly.Segment {
	var out []reassembly.Segment
	for i, r := range recs {
		if r.tcp {
			out = append(out, reassembly.Segment{File: file, Frame: int64(i + 1), At: r.at, Iface: r.iface, Seq: reassembly.Seq(r.seq)})
		}
	}
	return out
}

// sameSegs compares the identifying fields of segments.
func sameSegs(t testing.TB, got, want []reassembly.Segment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d segments, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.File != w.File || g.Frame != w.Frame || g.At != w.At || g.Iface != w.Iface || g.Seq != w.Seq {
			t.Fatalf("segment %d: got file %d frame %d at %d iface %d seq %d, want file %d frame %d at %d iface %d seq %d",
				i, g.File, g.Frame, g.At, g.Iface, g.Seq, w.File, w.Frame, w.At, w.Iface, w.Seq)
		}
	}
}

// ngMixed writes recs into a hand-made pcapng: interface 0 Ethernet with
// nanosecond timestamps, interface 1 Linux SLL2 with 2^-20 s units and a
// 10 s offset; frames with iface 0 as EPB, except every fifth as obsolete
// PB; and blocks that are not frames in between.
func ngMixed(t testing.TB, be bool, recs []rec) []byte {
	w := newNg(be)
	w.iface(reassembly.LinkEthernet, 65535, 9, 0)
	w.block(4, []byte{0, 0, 0, 0}) // name resolution block, empty
	w.iface(reassembly.LinkLinuxSLL2, 262144, 0x80|20, 10)
	for i, r := range recs {
		switch {
		case r.iface == 1:
			ts := uint64(r.at-10e9) / 1e9 << 20 // whole seconds only in this helper
			w.epb(1, ts, r.data)
		case i%5 == 4:
			w.pb(0, uint64(r.at), r.data)
		default:
			w.epb(0, uint64(r.at), r.data)
		}
		if i == 2 {
			w.block(5, make([]byte, 12)) // interface statistics
			w.block(10, make([]byte, 8)) // decryption secrets
		}
	}
	return w.b
}

func TestFormats(t *testing.T) {
	// For the two-interface files: SLL2 frames on whole seconds.
	two := mixed(t, 9, t0, 500)
	for i := range two {
		if i%3 == 1 {
			two[i] = rec{at: t0 + int64(i)*1e9, iface: 1, link: reassembly.LinkLinuxSLL2, data: sll2Frame(t, 500+uint32(i)), tcp: true, seq: 500 + uint32(i)}
		} else {
			two[i].at = t0 + int64(i)*1e9 + 123456789
		}
	}
	usRecs := mixed(t, 13, t0+1000, 100) // microsecond-exact timestamps
	nsRecs := mixed(t, 13, t0+1234, 100)

	for _, tc := range []struct {
		name   string
		data   []byte
		recs   []rec
		format string
		links  []string
	}{
		{"pcap_le_us_pcapgo", pcapgoBytes(t, false, reassembly.LinkEthernet, usRecs), usRecs, "pcap", []string{"Ethernet"}},
		{"pcap_le_ns_pcapgo", pcapgoBytes(t, true, reassembly.LinkEthernet, nsRecs), nsRecs, "pcap", []string{"Ethernet"}},
		{"pcap_le_us", pcapBytes(false, false, reassembly.LinkEthernet, 65535, usRecs), usRecs, "pcap", []string{"Ethernet"}},
		{"pcap_be_us", pcapBytes(true, false, reassembly.LinkEthernet, 65535, usRecs), usRecs, "pcap", []string{"Ethernet"}},
		{"pcap_le_ns", pcapBytes(false, true, reassembly.LinkEthernet, 65535, nsRecs), nsRecs, "pcap", []string{"Ethernet"}},
		{"pcap_be_ns", pcapBytes(true, true, reassembly.LinkEthernet, 65535, nsRecs), nsRecs, "pcap", []string{"Ethernet"}},
		{"pcap_gzip", gz(t, pcapBytes(true, true, reassembly.LinkEthernet, 65535, nsRecs)), nsRecs, "pcap+gzip", []string{"Ethernet"}},
		{"pcapng_pcapgo", pcapnggoBytes(t, []reassembly.LinkType{reassembly.LinkEthernet, reassembly.LinkLinuxSLL2}, two), two, "pcapng", []string{"Ethernet", "Linux SLL2"}},
		{"pcapng_le", ngMixed(t, false, two), two, "pcapng", []string{"Ethernet", "Linux SLL2"}},
		{"pcapng_be", ngMixed(t, true, two), two, "pcapng", []string{"Ethernet", "Linux SLL2"}},
		{"pcapng_be_gzip", gz(t, ngMixed(t, true, two)), two, "pcapng+gzip", []string{"Ethernet", "Linux SLL2"}},
		{"pcapng_gzip_twice", gz(t, gz(t, ngMixed(t, false, two))), nil, "", nil}, // gzip inside gzip is not a capture
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := readAll(t, src(tc.name, tc.data))
			if tc.recs == nil {
				if err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng file") {
					t.Fatalf("err = %v, want not a pcap or pcapng file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.err != nil || len(g.warnings) != 0 {
				t.Fatalf("err %v, warnings %v", g.err, g.warnings)
			}
			sameSegs(t, g.segs, wantSegs(0, tc.recs))
			in := g.inputs[0]
			checkCounters(t, in)
			ntcp := int64(len(wantSegs(0, tc.recs)))
			if in.Name != tc.name || in.Format != tc.format || !slices.Equal(in.LinkTypes, tc.links) ||
				in.Frames != int64(len(tc.recs)) || in.TCP != ntcp || in.NonTCP != in.Frames-ntcp || !in.Complete {
				t.Errorf("input = %+v", in)
			}
			if in.FirstAt != tc.recs[0].at || in.LastAt != tc.recs[len(tc.recs)-1].at {
				t.Errorf("first/last = %d/%d, want %d/%d", in.FirstAt, in.LastAt, tc.recs[0].at, tc.recs[len(tc.recs)-1].at)
			}
			for _, s := range g.segs {
				if s.Iface == 1 && s.PktType != reassembly.PktOutgoing {
					t.Errorf("frame %d: PktType %d from SLL2", s.Frame, s.PktType)
				}
			}
		})
	}
}

// TestModifiedPcap reads the 24-byte record headers of Kuznetzov's patched
// libpcap (magic a1b2cd34), which tcpdump and Wireshark still read.
func TestModifiedPcap(t *testing.T) {
	recs := mixed(t, 5, t0, 1)
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2cd34)
	b = append(b, pcapBytes(false, false, reassembly.LinkEthernet, 65535, nil)[4:]...)
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.at/1e9))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.at%1e9/1e3))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.data)))
		b = append(b, 2, 0, 0, 0, 0, 8, 0, 0) // ifindex, protocol, pkt_type, pad
		b = append(b, r.data...)
	}
	g, err := readAll(t, src("modified.pcap", b))
	if err != nil || g.err != nil || len(g.warnings) != 0 {
		t.Fatal(err, g.err, g.warnings)
	}
	sameSegs(t, g.segs, wantSegs(0, recs))
}

// TestPcapngSections checks Simple Packet Blocks, a second section in the
// other byte order (interfaces renumbered) and unusual resolutions.
func TestPcapngSections(t *testing.T) {
	w := newNg(false)
	w.iface(reassembly.LinkEthernet, 0, -1, 0) // default resolution: µs
	w.epb(0, uint64(t0/1e3), tcpFrame(t, 1))
	w.spb(tcpFrame(t, 2)) // no timestamp: the previous one is used
	w.spb(arpFrame(t))
	// A second section, big-endian, whose interface 0 is raw IP in 10^-3 s
	// with an offset of 100 s.
	be := newNg(true)
	be.iface(reassembly.LinkRaw, 0, 3, 100)
	be.epb(0, uint64(t0/1e6), rawTCP6(t, 3))
	be.iface(reassembly.LinkEthernet, 0, 0x80, 0) // 2^0: seconds
	be.epb(1, uint64(t0/1e9)+1, tcpFrame(t, 4))
	data := append(w.b, be.b...)

	g, err := readAll(t, src("sections.pcapng", data))
	if err != nil {
		t.Fatal(err)
	}
	if g.err != nil || len(g.warnings) != 0 {
		t.Fatalf("err %v, warnings %v", g.err, g.warnings)
	}
	want := []reassembly.Segment{
		{Frame: 1, At: t0, Seq: 1},
		{Frame: 2, At: t0, Seq: 2},
		{Frame: 4, At: t0 + 100e9, Seq: 3},
		{Frame: 5, At: t0 + 1e9, Iface: 1, Seq: 4},
	}
	sameSegs(t, g.segs, want)
	if in := g.inputs[0]; !slices.Equal(in.LinkTypes, []string{"Ethernet", "Raw IP"}) || in.Frames != 5 {
		t.Errorf("input = %+v", in)
	}
}

// TestPcapngRecordBlocks checks that blocks Wireshark numbers as frames
// without a packet in them (custom blocks, systemd journal entries) count.
func TestPcapngRecordBlocks(t *testing.T) {
	w := newNg(true)
	w.iface(reassembly.LinkEthernet, 0, 9, 0)
	w.epb(0, uint64(t0), tcpFrame(t, 1))
	w.block(0x00000bad, []byte{0, 0, 0x7f, 0xff, 1, 2}) // frame 2: custom block
	w.block(9, []byte("MESSAGE=x\n"))                   // frame 3: systemd journal entry
	w.block(5, make([]byte, 12))                        // statistics: not a frame
	w.epb(0, uint64(t0)+1, tcpFrame(t, 4))
	g, err := readAll(t, src("records.pcapng", w.b))
	if err != nil || g.err != nil || len(g.warnings) != 0 {
		t.Fatal(err, g.err, g.warnings)
	}
	sameSegs(t, g.segs, []reassembly.Segment{{Frame: 1, At: t0, Seq: 1}, {Frame: 4, At: t0 + 1, Seq: 4}})
	if in := g.inputs[0]; in.Frames != 4 || in.NonTCP != 2 {
		t.Errorf("input %+v", in)
	}
}

func TestStdin(t *testing.T) {
	recs := mixed(t, 5, t0, 1)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = pr
	t.Cleanup(func() { os.Stdin = old; pr.Close() })
	go func() {
		pw.Write(gz(t, pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs)))
		pw.Close()
	}()
	r, err := Open([]string{"-"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var segs []reassembly.Segment
	var seg reassembly.Segment
	for r.Next(&seg) {
		segs = append(segs, seg)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	sameSegs(t, segs, wantSegs(0, recs))
	if in := r.Inputs()[0]; in.Name != "-" || in.Format != "pcap+gzip" {
		t.Errorf("input = %+v", in)
	}
	if _, err := Open([]string{"-", "-"}, nil); err == nil {
		t.Error("Open(-, -) succeeded")
	}
}

func TestOpenFiles(t *testing.T) {
	recs := mixed(t, 6, t0, 1)
	a := writeFile(t, "a.pcap", pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs))
	b := writeFile(t, "b.pcapng.gz", gz(t, ngMixed(t, true, recs)))
	r, err := Open([]string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var seg reassembly.Segment
	for r.Next(&seg) {
		n++
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if want := 2 * len(wantSegs(0, recs)); n != want || r.Err() != nil {
		t.Errorf("read %d segments (err %v), want %d", n, r.Err(), want)
	}
	if _, err := Open([]string{a, "/nonexistent/x.pcap"}, nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.pcap") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestMerge(t *testing.T) {
	// Input 0: frames at 0, 2, 4, 4 ms; input 1: 1, 2, 3, and one out of
	// order (0.5 ms) after 3; input 2: 2, 4 ms. Sequence numbers tell them
	// apart.
	mk := func(seq0 uint32, ms ...float64) []rec {
		var out []rec
		for i, m := range ms {
			out = append(out, rec{at: t0 + int64(m*1e6), tcp: true, seq: seq0 + uint32(i), data: tcpFrame(t, seq0+uint32(i))})
		}
		return out
	}
	in0 := mk(100, 0, 2, 4, 4)
	in1 := mk(200, 1, 2, 3, 0.5)
	in2 := mk(300, 2, 4)
	g, err := readAll(t,
		src("a", pcapBytes(false, false, reassembly.LinkEthernet, 65535, in0)),
		src("b", ngMixed(t, false, in1)),
		src("c", pcapBytes(true, true, reassembly.LinkEthernet, 65535, in2)))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	var order []uint32
	for _, s := range g.segs {
		order = append(order, uint32(s.Seq))
		if want := int(s.Seq)/100 - 1; s.File != want {
			t.Errorf("seq %d: File = %d, want %d", s.Seq, s.File, want)
		}
		if want := int64(s.Seq%100) + 1; s.Frame != want {
			t.Errorf("seq %d: Frame = %d, want %d", s.Seq, s.Frame, want)
		}
	}
	// 0.5 ms comes after 3 ms in its own file, so it is held back until
	// then; ties go by input index.
	want := []uint32{100, 200, 101, 201, 300, 202, 203, 102, 103, 301}
	if !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
}

func TestOpenErrors(t *testing.T) {
	valid := pcapBytes(false, false, reassembly.LinkEthernet, 65535, mixed(t, 2, t0, 1))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty: empty file, not a pcap or pcapng file"},
		{"text.pcap", []byte("hello, world\n"), "text.pcap: not a pcap or pcapng file (magic 68656c6c)"},
		{"short", []byte{0xd4, 0xc3}, "short: not a pcap or pcapng file (magic d4c3, file too short)"},
		{"header_cut", valid[:20], "header_cut: pcap file header truncated (20 of 24 bytes)"},
		{"ng_bad_bom", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, "ng_bad_bom: pcapng section header has a bad byte-order magic 01020304"},
		{"ng_cut", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28}, "ng_cut: pcapng section header truncated (5 bytes)"},
		{"gzip_bad", []byte{0x1f, 0x8b, 0, 0}, "gzip_bad: reading gzip header: unexpected EOF"},
		{"x.pcap.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, "x.pcap.zst: not a pcap or pcapng file (magic 28b52ffd; it looks zstd-compressed: decompress it first, or use gzip)"},
		{"gzip_of_text", gz(t, []byte("not a capture")), "gzip_of_text: not a pcap or pcapng file (magic 6e6f7420)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, src("ok", valid), src(tc.name, tc.data))
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestTruncatedEverywhere cuts valid captures at every offset: reading must
// not panic, must return every frame that lies wholly before the cut, and
// must name the file in a warning when the cut is inside a record.
func TestTruncatedEverywhere(t *testing.T) {
	recs := mixed(t, 6, t0, 1)
	for _, tc := range []struct {
		name string
		data []byte
		hdr  int // bytes before the first record
	}{
		{"cut.pcap", pcapBytes(true, false, reassembly.LinkEthernet, 65535, recs), 24},
		{"cut.pcapng", ngMixed(t, false, recs), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Record ends: where each frame is complete.
			var ends []int
			for cut := 0; cut <= len(tc.data); cut++ {
				g, err := readAll(t, src(tc.name, tc.data[:cut]))
				if err != nil {
					if !strings.HasPrefix(err.Error(), tc.name+": ") {
						t.Fatalf("cut at %d: error %q does not start with the file name", cut, err)
					}
					continue
				}
				if g.err != nil {
					t.Fatalf("cut at %d: fatal error %v", cut, g.err)
				}
				in := g.inputs[0]
				checkCounters(t, in)
				if len(ends) < int(in.Frames) {
					ends = append(ends, cut) // first cut at which this many frames are read
				}
				want := wantSegs(0, recs[:in.Frames])
				sameSegs(t, g.segs, want)
				if cut == len(tc.data) {
					if len(g.warnings) != 0 || !in.Complete || in.Frames != int64(len(recs)) {
						t.Fatalf("whole file: warnings %v, input %+v", g.warnings, in)
					}
					continue
				}
				// A cut file gives exactly one warning naming the file and the offset.
				atBoundary := cut == tc.hdr || (len(ends) > 0 && cut == ends[len(ends)-1] && in.Frames > 0)
				if tc.name == "cut.pcapng" {
					atBoundary = false // block boundaries are not only frame ends; just check the warning if any
				}
				if !atBoundary && len(g.warnings) == 0 && tc.name == "cut.pcap" {
					t.Fatalf("cut at %d: no warning", cut)
				}
				for _, w := range g.warnings {
					if w.File != tc.name || w.Offset < 0 || !strings.Contains(w.String(), tc.name+": ") {
						t.Fatalf("cut at %d: warning %q", cut, w)
					}
					if in.Complete {
						t.Fatalf("cut at %d: warning %q but the input is complete", cut, w)
					}
				}
			}
			if len(ends) != len(recs) {
				t.Fatalf("saw %d distinct frame counts, want %d", len(ends), len(recs))
			}
		})
	}
}

func TestTruncatedGzip(t *testing.T) {
	recs := mixed(t, 40, t0, 1)
	data := gz(t, pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs))
	for cut := 20; cut < len(data); cut += 7 {
		g, err := readAll(t, src("cut.pcap.gz", data[:cut]))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cut.pcap.gz: ") {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			continue
		}
		if g.err != nil {
			t.Fatalf("cut at %d: fatal %v", cut, g.err)
		}
		sameSegs(t, g.segs, wantSegs(0, recs[:g.inputs[0].Frames]))
		if len(g.warnings) != 1 || !strings.Contains(g.warnings[0].String(), "cut.pcap.gz: ") {
			t.Fatalf("cut at %d: warnings %v", cut, g.warnings)
		}
	}
	// A corrupt byte in the compressed data: a warning, the frames before kept.
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	g, err := readAll(t, src("bad.pcap.gz", bad))
	if err != nil || g.err != nil {
		t.Fatalf("corrupt gzip: %v %v", err, g.err)
	}
	if len(g.warnings) == 0 || g.inputs[0].Complete {
		t.Errorf("corrupt gzip: warnings %v, input %+v", g.warnings, g.inputs[0])
	}
}

func TestAbsurdRecordLength(t *testing.T) {
	recs := mixed(t, 8, t0, 1)
	data := pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs)
	// Corrupt the length of frame 5.
	off := 24
	for i := range 4 {
		off += 16 + len(recs[i].data)
	}
	data[off+8], data[off+9], data[off+10], data[off+11] = 0xff, 0xff, 0xff, 0x7f
	other := mixed(t, 3, t0, 1000)
	g, err := readAll(t, src("bad.pcap", data), src("good.pcap", pcapBytes(false, true, reassembly.LinkEthernet, 65535, other)))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	if len(g.warnings) != 1 {
		t.Fatalf("warnings %v", g.warnings)
	}
	w := g.warnings[0]
	if w.File != "bad.pcap" || w.Frame != 5 || w.Offset != int64(off) || !strings.Contains(w.Msg, "absurd") {
		t.Errorf("warning %q", w)
	}
	if n := len(wantSegs(0, recs[:4])) + len(wantSegs(1, other)); len(g.segs) != n {
		t.Errorf("got %d segments, want %d (frames before the bad one and the other file)", len(g.segs), n)
	}
	if g.inputs[0].Complete || !g.inputs[1].Complete || g.inputs[0].Frames != 4 {
		t.Errorf("inputs %+v", g.inputs)
	}
}

func TestCaplenOverSnaplen(t *testing.T) {
	recs := mixed(t, 4, t0, 1)
	g, err := readAll(t, src("dpkt.pcap", pcapBytes(false, false, reassembly.LinkEthernet, 60, recs)))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	sameSegs(t, g.segs, wantSegs(0, recs))
	if len(g.warnings) != 1 || g.warnings[0].Frame != 1 || !strings.Contains(g.warnings[0].Msg, "snap length") {
		t.Errorf("warnings %v", g.warnings)
	}
}

func TestSnaplenCutHeaders(t *testing.T) {
	recs := mixed(t, 60, t0, 1)
	for i := range recs {
		switch {
		case i%4 == 1:
			recs[i].data = recs[i].data[:14+20+10] // cut in the TCP header
			recs[i].tcp = false
		case i%4 == 2:
			recs[i].data = recs[i].data[:14+20+24] // cut in the TCP options
		}
	}
	g, err := readAll(t, src("snap.pcap", pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs)))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	sameSegs(t, g.segs, wantSegs(0, recs))
	in := g.inputs[0]
	checkCounters(t, in)
	if in.Truncated != 15 || in.OptionsCut != 15 {
		t.Errorf("input %+v", in)
	}
	// 10 warnings one by one, then a summary, and the options note.
	if len(g.warnings) != maxFrameWarnings+2 {
		t.Fatalf("%d warnings: %v", len(g.warnings), g.warnings)
	}
	if w := g.warnings[0]; w.Frame != 2 || w.String() != "snap.pcap: frame 2 (offset 107): tcp header truncated (44 bytes captured), frame skipped" {
		t.Errorf("first warning %q", w)
	}
	for _, s := range g.segs {
		if s.CapTrunc != (s.Frame%4 == 3) {
			t.Errorf("frame %d: CapTrunc = %v", s.Frame, s.CapTrunc)
		}
	}
}

func TestPcapngBadBlocks(t *testing.T) {
	w := newNg(false)
	w.iface(reassembly.LinkEthernet, 0, 9, 0)
	w.epb(0, uint64(t0), tcpFrame(t, 1))
	w.epb(7, uint64(t0), tcpFrame(t, 2)) // frame 2: no interface 7
	w.epb(0, uint64(t0), tcpFrame(t, 3))
	// frame 4: captured length beyond its block
	w.epb(0, uint64(t0), tcpFrame(t, 4))
	last := len(w.b) - 4 - len(pad4(tcpFrame(t, 4))) - 8
	w.b[last] = 0xff
	// frame 5: trailing length differs
	w.epb(0, uint64(t0), tcpFrame(t, 5))
	w.b[len(w.b)-4]++
	w.epb(0, uint64(t0), tcpFrame(t, 6))
	w.block(0x1234, []byte{1, 2, 3, 4}) // unknown block: skipped silently
	w.epb(0, uint64(t0), tcpFrame(t, 7))
	good := len(w.b)
	// A block whose length makes no sense: the rest cannot be found.
	w.b = append(w.b, 6, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0)
	w.epb(0, uint64(t0), tcpFrame(t, 9))

	g, err := readAll(t, src("bad.pcapng", w.b))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	sameSegs(t, g.segs, []reassembly.Segment{{Frame: 1, At: t0, Seq: 1}, {Frame: 3, At: t0, Seq: 3}, {Frame: 6, At: t0, Seq: 6}, {Frame: 7, At: t0, Seq: 7}})
	var msgs []string
	for _, w := range g.warnings {
		msgs = append(msgs, w.String())
	}
	wantPrefix := []string{
		"bad.pcapng: frame 2 (offset ",
		"bad.pcapng: frame 4 (offset ",
		"bad.pcapng: frame 5 (offset ",
		"bad.pcapng: offset " + strconv.Itoa(good) + ": block of type 0x6 with an impossible length 3",
	}
	if len(msgs) != len(wantPrefix) {
		t.Fatalf("warnings:\n%s", strings.Join(msgs, "\n"))
	}
	for i, p := range wantPrefix {
		if !strings.HasPrefix(msgs[i], p) {
			t.Errorf("warning %d = %q, want prefix %q", i, msgs[i], p)
		}
	}
	in := g.inputs[0]
	checkCounters(t, in)
	if in.Frames != 7 || in.Malformed != 3 || in.Complete {
		t.Errorf("input %+v", in)
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	recs := mixed(t, 3, t0, 1)
	g, err := readAll(t, src("wifi.pcap", pcapBytes(false, false, reassembly.LinkType(105), 65535, recs)))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	if len(g.segs) != 0 || g.inputs[0].NonTCP != 3 || len(g.warnings) != 1 || !strings.Contains(g.warnings[0].Msg, "link type 105") {
		t.Errorf("segments %d, input %+v, warnings %v", len(g.segs), g.inputs[0], g.warnings)
	}
}

func TestWarningString(t *testing.T) {
	for _, tc := range []struct {
		w    Warning
		want string
	}{
		{Warning{"a.pcap", 3, 100, "m"}, "a.pcap: frame 3 (offset 100): m"},
		{Warning{"a.pcap", 3, -1, "m"}, "a.pcap: frame 3: m"},
		{Warning{"a.pcap", 0, 0, "m"}, "a.pcap: offset 0: m"},
		{Warning{"a.pcap", 0, -1, "m"}, "a.pcap: m"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.w, got, tc.want)
		}
	}
}

// TestFirstAtSkipsUntimed checks that frames without a timestamp of their
// own (a Simple Packet Block first, a bad block) do not put a zero time
// into FirstAt.
func TestFirstAtSkipsUntimed(t *testing.T) {
	w := newNg(false)
	w.iface(reassembly.LinkEthernet, 0, 9, 0)
	w.spb(tcpFrame(t, 1))
	w.epb(3, 5, tcpFrame(t, 2)) // no interface 3
	w.epb(0, uint64(t0)+7, tcpFrame(t, 3))
	w.spb(tcpFrame(t, 4))
	g, err := readAll(t, src("untimed.pcapng", w.b))
	if err != nil || g.err != nil {
		t.Fatal(err, g.err)
	}
	sameSegs(t, g.segs, []reassembly.Segment{{Frame: 1, Seq: 1}, {Frame: 3, At: t0 + 7, Seq: 3}, {Frame: 4, At: t0 + 7, Seq: 4}})
	if in := g.inputs[0]; in.FirstAt != t0+7 || in.LastAt != t0+7 || in.Frames != 4 {
		t.Errorf("input %+v", in)
	}
}
