package capture

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"teardown/reassembly"
)

// TestTsharkFrameNumbers checks frame numbers, timestamps and sequence
// numbers against Wireshark's own reader (tshark), on generated captures of
// every format and on every capture in testdata/pcaps. It is skipped
// without tshark.
func TestTsharkFrameNumbers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark once per capture")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	recs := mixed(t, 40, t0+1000, 1)
	two := mixed(t, 12, t0, 500)
	for i := range two {
		if i%3 == 1 {
			two[i] = rec{at: t0 + int64(i)*1e9, iface: 1, link: reassembly.LinkLinuxSLL2, data: sll2Frame(t, 500+uint32(i)), tcp: true, seq: 500 + uint32(i)}
		}
	}
	sections := newNg(false)
	sections.iface(reassembly.LinkEthernet, 0, -1, 0)
	sections.epb(0, uint64(t0/1e3), tcpFrame(t, 1))
	sections.block(0x40000bad, []byte{0, 0, 0, 1, 'x', 0, 0, 0}) // custom block: a record to Wireshark
	sections.block(5, make([]byte, 12))                          // statistics: not a record
	sections.spb(arpFrame(t))
	sections.spb(tcpFrame(t, 2))
	be := newNg(true)
	be.iface(reassembly.LinkRaw, 0, 3, 0)
	be.epb(0, uint64(t0/1e6), rawTCP6(t, 3))
	sections.b = append(sections.b, be.b...)

	files := map[string][]byte{
		"le_us.pcap":      pcapBytes(false, false, reassembly.LinkEthernet, 65535, recs),
		"be_ns.pcap":      pcapBytes(true, true, reassembly.LinkEthernet, 65535, recs),
		"pcapgo.pcapng":   pcapnggoBytes(t, []reassembly.LinkType{reassembly.LinkEthernet, reassembly.LinkLinuxSLL2}, two),
		"le.pcapng":       ngMixed(t, false, two),
		"be.pcapng.gz":    gz(t, ngMixed(t, true, two)),
		"sections.pcapng": sections.b,
	}
	var paths []string
	for name, b := range files {
		paths = append(paths, writeFile(t, name, b))
	}
	lab, _ := filepath.Glob(filepath.Join("..", "testdata", "pcaps", "*"))
	for _, p := range lab {
		if isCapture(p) {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(tshark, "-n", "-r", p, "-Y", "tcp && !icmp && !icmpv6 && !(ip.flags.mf == 1) && !(ip.frag_offset > 0) && !ipv6.fragment",
				"-T", "fields", "-E", "separator=,", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "tcp.seq_raw", "-e", "tcp.srcport").Output()
			if err != nil {
				t.Skipf("tshark cannot read %s: %v", p, err)
			}
			r, err := Open([]string{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var seg reassembly.Segment
			sc := bufio.NewScanner(bytes.NewReader(out))
			n := 0
			for sc.Scan() {
				f := strings.Split(sc.Text(), ",")
				if len(f) < 4 || f[2] == "" {
					continue // e.g. a frame tshark shows as TCP but with a truncated header
				}
				if !r.Next(&seg) {
					t.Fatalf("tshark has frame %s, we have no more segments (err %v)", f[0], r.Err())
				}
				frame, _ := strconv.ParseInt(f[0], 10, 64)
				seq, _ := strconv.ParseUint(f[2], 10, 32)
				port, _ := strconv.ParseUint(f[3], 10, 16)
				if seg.Frame != frame || uint64(seg.Seq) != seq || uint64(seg.SrcPort) != port {
					t.Fatalf("tshark: frame %d seq %d port %d; we: frame %d seq %d port %d", frame, seq, port, seg.Frame, seg.Seq, seg.SrcPort)
				}
				if ts := parseEpoch(f[1]); f[1] != "" && ts/1000 != seg.At/1000 { // no time: a Simple Packet Block
					t.Errorf("frame %d: tshark time %s, we %d", frame, f[1], seg.At)
				}
				n++
			}
			if r.Next(&seg) {
				t.Errorf("we have frame %d beyond tshark's", seg.Frame)
			}
			t.Logf("%d TCP frames agree", n)
		})
	}
}

// isCapture reports whether a testdata file is a capture (by its name: the
// lab keeps expectations and notes beside them).
func isCapture(p string) bool {
	p = strings.TrimSuffix(p, ".gz")
	return strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")
}

// parseEpoch parses "1714564800.000001000" into Unix ns.
func parseEpoch(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(sec, 10, 64)
	frac = (frac + "000000000")[:9]
	f, _ := strconv.ParseInt(frac, 10, 64)
	return n*1e9 + f
}
