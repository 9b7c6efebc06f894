package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapBuilder writes a small Ethernet/IPv4 pcap from scripted segments, to
// test the pipeline end to end without a shipped capture.
type pcapBuilder struct {
	t   *testing.T
	buf bytes.Buffer
	w   *pcapgo.Writer
	at  time.Time
}

func newPcap(t *testing.T) *pcapBuilder {
	b := &pcapBuilder{t: t, at: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	b.w = pcapgo.NewWriterNanos(&b.buf)
	if err := b.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return b
}

// endpoint is one side of a scripted connection.
type endpoint struct {
	ip   net.IP
	port uint16
	isn  uint32
}

// seg writes one segment from src to dst, after a gap, with tcpdump-style
// flags; seq and ack are relative to the ISNs.
func (b *pcapBuilder) seg(gap time.Duration, src, dst endpoint, flags string, seq, ack uint32, n int) {
	b.t.Helper()
	b.at = b.at.Add(gap)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.port), DstPort: layers.TCPPort(dst.port),
		Seq: src.isn + seq, Window: 502}
	for _, c := range flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'P':
			tcp.PSH = true
		case '.':
			tcp.ACK = true
			tcp.Ack = dst.isn + ack
		}
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.ip, DstIP: dst.ip}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		b.t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload(make([]byte, n)))
	if err != nil {
		b.t.Fatal(err)
	}
	data := buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: b.at, CaptureLength: len(data), Length: len(data)}
	if err := b.w.WritePacket(ci, data); err != nil {
		b.t.Fatal(err)
	}
}

func (b *pcapBuilder) write(name string) string {
	b.t.Helper()
	p := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(p, b.buf.Bytes(), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// threeFlows writes a capture with a clean close, an RST abort and a
// refused connection, in that order.
func threeFlows(t *testing.T) string {
	b := newPcap(t)
	srv := endpoint{net.IP{10, 0, 0, 2}, 80, 5000}
	ms := time.Millisecond

	// Four-way close, the client closes first.
	c := endpoint{net.IP{10, 0, 0, 1}, 40000, 1000}
	b.seg(0, c, srv, "S", 0, 0, 0)
	b.seg(10*ms, srv, c, "S.", 0, 1, 0)
	b.seg(10*ms, c, srv, ".", 1, 1, 0)
	b.seg(ms, c, srv, "P.", 1, 1, 100)
	b.seg(10*ms, srv, c, "P.", 1, 101, 200)
	b.seg(ms, c, srv, "F.", 101, 201, 0)
	b.seg(10*ms, srv, c, ".", 201, 102, 0)
	b.seg(ms, srv, c, "F.", 201, 102, 0)
	b.seg(10*ms, c, srv, ".", 102, 202, 0)

	// RST abort by the client.
	c = endpoint{net.IP{10, 0, 0, 1}, 40001, 2000}
	b.seg(100*ms, c, srv, "S", 0, 0, 0)
	b.seg(10*ms, srv, c, "S.", 0, 1, 0)
	b.seg(10*ms, c, srv, ".", 1, 1, 0)
	b.seg(ms, c, srv, "P.", 1, 1, 100)
	b.seg(10*ms, srv, c, ".", 1, 101, 0)
	b.seg(ms, c, srv, "R.", 101, 1, 0)

	// Refused.
	c = endpoint{net.IP{10, 0, 0, 1}, 40002, 3000}
	b.seg(100*ms, c, endpoint{srv.ip, 81, 0}, "S", 0, 0, 0)
	b.seg(10*ms, endpoint{srv.ip, 81, 0}, c, "R.", 0, 1, 0)
	return b.write("three.pcap")
}

// TestPipeline runs the whole pipeline on a generated capture: every flow
// reaches every format, filters and --fail-on work.
func TestPipeline(t *testing.T) {
	requireCapture(t)
	p := threeFlows(t)

	code, out, errOut := teardown(t, "--format", "json", p)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var doc struct {
		Flows []struct {
			ID     int    `json:"id"`
			Class  string `json:"class"`
			Client string `json:"client"`
		} `json:"flows"`
		Summary struct {
			Flows int `json:"flows"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(doc.Flows) != 3 || doc.Summary.Flows != 3 {
		t.Fatalf("got %d flows (summary %d), want 3:\n%s", len(doc.Flows), doc.Summary.Flows, out)
	}
	classes := map[string]string{}
	for _, f := range doc.Flows {
		classes[f.Client] = f.Class
	}
	want := map[string]string{"10.0.0.1:40000": "four-way", "10.0.0.1:40001": "rst-abort", "10.0.0.1:40002": "refused"}
	for client, c := range want {
		if classes[client] != c {
			t.Errorf("flow from %s: class %q, want %q", client, classes[client], c)
		}
	}

	// --fail-on.
	code, _, errOut = teardown(t, "--fail-on", "refused,lost-ack", p)
	if code != 1 || !strings.Contains(errOut, "--fail-on matched: 1 refused") {
		t.Errorf("--fail-on refused: exit %d, stderr %q; want 1 and the match", code, errOut)
	}
	if code, _, errOut = teardown(t, "--fail-on", "lost-ack", p); code != 0 {
		t.Errorf("--fail-on lost-ack: exit %d, stderr %q; want 0", code, errOut)
	}

	// Text hides the four-way flow unless --all.
	_, out, _ = teardown(t, p)
	if strings.Contains(out, "four-way  10.0.0.1") || !strings.Contains(out, "rst-abort  10.0.0.1:40001") {
		t.Errorf("default text shows the wrong flows:\n%s", out)
	}
	_, out, _ = teardown(t, "--all", p)
	if !strings.Contains(out, "four-way  10.0.0.1:40000") {
		t.Errorf("--all does not show the four-way flow:\n%s", out)
	}

	// --class selects in every format; ndjson ends with the summary.
	_, out, _ = teardown(t, "--class", "refused", "-F", "ndjson", p)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"class":"refused"`) || !strings.HasPrefix(lines[1], `{"type":"summary"`) {
		t.Errorf("--class refused -F ndjson:\n%s", out)
	}

	// -o picks the format from the extension.
	o := filepath.Join(t.TempDir(), "r.json")
	if code, out, errOut := teardown(t, "-o", o, p); code != 0 || out != "" {
		t.Errorf("-o: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if b, err := os.ReadFile(o); err != nil || !json.Valid(b) {
		t.Errorf("-o r.json: %v, valid JSON %v", err, json.Valid(b))
	}

	// The same file twice: frames are cited as FILE:FRAME.
	_, out, _ = teardown(t, "--format", "json", "--class", "refused", p, p)
	if !strings.Contains(out, `"first_frame": "`+p+`:`) {
		t.Errorf("two inputs: frames not cited with the file:\n%s", out)
	}
	if !strings.Contains(out, "(frame "+p+":") {
		t.Errorf("two inputs: the verdict does not cite frames with the file:\n%s", out)
	}
}

// File names reach the terminal in errors, warnings and the report; a
// hostile one must arrive escaped.
func TestHostileFileName(t *testing.T) {
	requireCapture(t)
	const evil = "evil\x1b[2J\x1b]0;pwned\a\u202e.pcap"
	dir := t.TempDir()

	code, out, errOut := teardown(t, filepath.Join(dir, evil))
	if code != 2 || out != "" {
		t.Errorf("missing hostile file: exit %d, stdout %q", code, out)
	}
	if strings.ContainsAny(errOut, "\x1b\a\u202e") || !strings.Contains(errOut, `evil\x1b[2J\x1b]0;pwned\x07\u202e.pcap`) {
		t.Errorf("stderr not escaped: %q", errOut)
	}

	src, err := os.ReadFile(threeFlows(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, evil)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	// Two inputs so that the name is also cited in the verdicts.
	code, out, errOut = teardown(t, "--all", p, p)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\a\u202e") {
		t.Errorf("text report carries a raw control character:\n%q", out)
	}
	if !strings.Contains(out, `evil\x1b[2J\x1b]0;pwned\x07\u202e.pcap:`) {
		t.Errorf("text report does not show the escaped name:\n%s", out)
	}
}

// A capture cut in the middle of a record: the frames before it are
// reported, the problem is a warning (or an error) naming the file.
func TestTruncatedCapture(t *testing.T) {
	requireCapture(t)
	src, err := os.ReadFile(threeFlows(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(p, src[:len(src)-20], 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := teardown(t, "--all", p)
	if code != 0 && code != 2 {
		t.Errorf("exit %d, want 0 (warning) or 2 (error)", code)
	}
	if !strings.Contains(errOut, "cut.pcap") {
		t.Errorf("stderr %q does not name the file", errOut)
	}
	if !strings.Contains(out, "flow 1  four-way") {
		t.Errorf("the flows before the cut are not reported:\n%s", out)
	}
}
