//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"teardown/internal/netlab"
)

// stuckFor matches the duration in a half-closed flow's verdict.
var stuckFor = regexp.MustCompile(`for [0-9.]+[a-zµ]+ until`)

// needLab skips a test that needs network namespaces and CAP_NET_RAW.
func needLab(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: live capture tests need root (network namespaces and CAP_NET_RAW)")
	}
	if err := netlab.Available(); err != nil {
		t.Skipf("skipping: capture lab unavailable: %v", err)
	}
}

// liveArgs parses a command line for runLive.
func liveArgs(t testing.TB, args ...string) (*options, *liveOptions) {
	t.Helper()
	fs := newFlagSet()
	o, err := parseArgs(fs, args)
	if err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	lo, err := parseLiveArgs(fs, o)
	if err != nil || lo == nil {
		t.Fatalf("parsing live flags %q: %v", args, err)
	}
	return o, lo
}

// liveCapture is runLive running in a namespace of a lab.
type liveCapture struct {
	out, errb bytes.Buffer
	status    int
	err       error
	cancel    context.CancelFunc
	done      chan struct{}
}

// startLive starts runLive with args in node n of lab and returns once the
// capture is open.
func startLive(t testing.TB, lab *netlab.Lab, n netlab.Node, args ...string) *liveCapture {
	t.Helper()
	o, lo := liveArgs(t, args...)
	lc := &liveCapture{done: make(chan struct{})}
	ready := make(chan struct{})
	var once sync.Once
	lo.ready = func() { once.Do(func() { close(ready) }) }
	ctx, cancel := context.WithCancel(context.Background())
	lc.cancel = cancel
	go func() {
		defer close(lc.done)
		defer once.Do(func() { close(ready) })
		lc.err = lab.Do(n, func() error {
			var err error
			lc.status, err = runLive(ctx, o, lo, &lc.out, &lc.errb)
			return err
		})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("live capture did not start in 10 s")
	}
	return lc
}

// stop ends the capture (as SIGINT would) and waits for the report.
func (lc *liveCapture) stop(t testing.TB) {
	t.Helper()
	lc.cancel()
	select {
	case <-lc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("live capture did not stop in 10 s")
	}
}

// offline runs teardown on files and returns its ndjson.
func offline(t testing.TB, files ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if st := run(append([]string{"-F", "ndjson"}, files...), &out, &errb); st != 0 {
		t.Fatalf("teardown %v: status %d: %s", files, st, errb.String())
	}
	return out.Bytes()
}

// liveCases are lab scenarios played with a live capture: on the client's
// interface, and with -i any in the server's namespace.
var liveCases = []struct {
	scenario string
	node     netlab.Node
	iface    string
}{
	{"fourway-client-first", netlab.ClientNode, netlab.EndpointIf},
	{"fourway-server-first", netlab.ClientNode, netlab.EndpointIf},
	{"rst-abort-client", netlab.ClientNode, netlab.EndpointIf},
	{"rst-unread", netlab.ClientNode, netlab.EndpointIf},
	{"lost-ack", netlab.ClientNode, netlab.EndpointIf},
	{"refused", netlab.ClientNode, netlab.EndpointIf},
	{"simultaneous", netlab.ClientNode, netlab.EndpointIf},
	{"fourway-ipv6", netlab.ClientNode, netlab.EndpointIf},
	{"fourway-piggyback", netlab.ClientNode, netlab.EndpointIf},
	{"fourway-nodata", netlab.ClientNode, netlab.EndpointIf},
	{"fourway-half-close", netlab.ClientNode, netlab.EndpointIf},
	{"rst-abort-ipv6", netlab.ClientNode, netlab.EndpointIf},
	{"rst-abort-queued", netlab.ClientNode, netlab.EndpointIf},
	{"rst-after-close", netlab.ClientNode, netlab.EndpointIf},
	{"lost-fin", netlab.ClientNode, netlab.EndpointIf},
	{"lost-ack-nots", netlab.ClientNode, netlab.EndpointIf},
	{"late-duplicate", netlab.ClientNode, netlab.EndpointIf},
	{"reuse-time-wait", netlab.ClientNode, netlab.EndpointIf},
	{"close-wait", netlab.ClientNode, netlab.EndpointIf},
	{"open", netlab.ClientNode, netlab.EndpointIf},
	{"rst-in-time-wait", netlab.ClientNode, netlab.EndpointIf},
	{"zero-window", netlab.ClientNode, netlab.EndpointIf},
	{"zero-window", netlab.ServerNode, "any"},
	{"fourway-client-first", netlab.ServerNode, "any"},
	{"rst-abort-server", netlab.ServerNode, "any"},
	{"lost-ack", netlab.ServerNode, "any"},
	{"lost-fin", netlab.ServerNode, "any"},
	{"lost-fin-nots", netlab.ServerNode, "any"},
	{"late-duplicate", netlab.ServerNode, "any"},
	// Not played live: fin-wait (its captures must stop before the held
	// FIN is retransmitted, and playing it live keeps the lab's captures
	// running past that),
	// midstream (its lab captures start after the
	// handshake on purpose, a live capture started first sees it), and the
	// multi-flow formats, busy, showcase and router-any captures, whose
	// flows are the single-flow scenarios above.
}

// TestLiveMatchesOffline plays lab scenarios while teardown captures live:
// the live verdicts equal the offline verdicts of the lab's own capture of
// the same run at the same place, and the -w file read offline gives
// exactly the live report.
func TestLiveMatchesOffline(t *testing.T) {
	needLab(t)
	t.Cleanup(netlab.CloseAll)
	dir := t.TempDir()
	for _, tc := range liveCases {
		vantage := tc.node.String()
		t.Run(tc.scenario+"/"+vantage+"/"+tc.iface, func(t *testing.T) {
			sc, err := netlab.Lookup(tc.scenario)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, vantage+"-"+tc.iface)
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			wfile := filepath.Join(out, tc.scenario+".live.pcapng")
			var lc *liveCapture
			wrapped := &netlab.Scenario{Name: sc.Name, Description: sc.Description, Run: func(s *netlab.Session) error {
				lc = startLive(t, s.Lab, tc.node, "-i", tc.iface, "-F", "ndjson", "-w", wfile)
				err := sc.Run(s)
				time.Sleep(100 * time.Millisecond) // the lab waits as long before it stops its captures
				lc.stop(t)
				return err
			}}
			if err := netlab.RunScenario(wrapped, out, t.Logf); err != nil {
				t.Fatal(err)
			}
			if lc.err != nil || lc.status != 0 {
				t.Fatalf("live capture: status %d, %v\n%s", lc.status, lc.err, lc.errb.String())
			}
			if n := strings.Count(lc.out.String(), `"vantage":"`+vantage+`"`); n != strings.Count(lc.out.String(), `"type":"flow"`) {
				t.Errorf("%d flows of a capture in the %s namespace have vantage %s, want all\n%s", n, vantage, vantage, lc.out.String())
			}
			live := flowLines(t, lc.out.Bytes())
			if len(live) == 0 {
				t.Fatalf("live capture reported no flow\nstderr: %s", lc.errb.String())
			}
			lab := flowLines(t, offline(t, filepath.Join(out, tc.scenario+"."+vantage+".pcap")))
			if g, w := verdicts(live), verdicts(lab); !slices.Equal(g, w) {
				t.Errorf("live verdicts differ from the offline ones of the lab's capture\nlive:\n  %s\noffline:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
			}
			// The -w file holds the evidence: read offline, it gives the
			// same report, frame numbers included.
			re := flowLines(t, offline(t, wfile))
			if len(re) != len(live) {
				t.Fatalf("-w file: %d flows, live %d", len(re), len(live))
			}
			for i := range re {
				// A live capture knows when it ended, and so does its -w
				// file (isb_endtime), a moment later: a half-closed
				// flow's duration is compared apart.
				lf, rf := live[i]["stuck"], re[i]["stuck"]
				if lf != nil || rf != nil {
					ls, _ := lf.(map[string]any)
					rs, _ := rf.(map[string]any)
					if ls == nil || rs == nil || math.Abs(ls["for"].(float64)-rs["for"].(float64)) > 0.5 {
						t.Errorf("flow %d: stuck %v live, %v in the -w file; want both, within 0.5 s", i+1, lf, rf)
					}
					for _, m := range []map[string]any{live[i], re[i]} {
						delete(m, "stuck")
						m["verdict"] = stuckFor.ReplaceAllString(m["verdict"].(string), "for D until")
					}
				}
				a, _ := json.Marshal(live[i])
				b, _ := json.Marshal(re[i])
				if !bytes.Equal(a, b) {
					t.Errorf("flow %d: live report differs from the -w file's\nlive: %s\nfile: %s", i+1, a, b)
				}
			}
		})
	}
}

// TestLiveSIGINT stops a capture with SIGINT while a connection is still
// half-closed: the report ends with that flow's verdict and the summary,
// the exit status is 0, and the -w file gives the same verdicts.
func TestLiveSIGINT(t *testing.T) {
	needLab(t)
	t.Cleanup(netlab.CloseAll)
	lab, err := netlab.NewLab()
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	r, err := lab.StartRouter(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	dir := t.TempDir()
	wfile := filepath.Join(dir, "sigint.pcapng")
	o, lo := liveArgs(t, "-i", netlab.EndpointIf, "-F", "ndjson", "-w", wfile)
	ready := make(chan struct{})
	lo.ready = func() { close(ready) }
	var out, errb bytes.Buffer
	var status int
	done := make(chan error, 1)
	go func() {
		done <- lab.Do(netlab.ServerNode, func() error {
			var err error
			status, err = runLive(context.Background(), o, lo, &out, &errb)
			return err
		})
	}()
	<-ready

	// One clean close and one connection left in CLOSE_WAIT.
	srv := netip.AddrPortFrom(netlab.ServerV4, 8080)
	ln, err := lab.Listen(netlab.ServerNode, srv, netlab.SockOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var keep []net.Conn
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	for i, closeServer := range []bool{true, false} {
		c, err := lab.Dial(netlab.ClientNode, netip.AddrPortFrom(netlab.ClientV4, uint16(41000+i)), srv, netlab.SockOpts{})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := netlab.Accept(ln)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := netlab.RecvEOF(sc); err != nil {
			t.Fatal(err)
		}
		if closeServer {
			sc.Close()
		} else {
			keep = append(keep, sc)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || status != 0 {
			t.Fatalf("status %d, %v\n%s", status, err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not stop the capture in 10 s")
	}
	if !strings.Contains(out.String(), `"type":"summary"`) {
		t.Errorf("no summary after SIGINT:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "dropped by the kernel") {
		t.Errorf("stderr lacks the capture counters:\n%s", errb.String())
	}
	live := flowLines(t, out.Bytes())
	var got []string
	for _, f := range live {
		got = append(got, fmt.Sprintf("%v %v closer=%v", f["client"], f["class"], f["active_closer"]))
	}
	want := []string{
		"198.18.0.1:41000 four-way closer=client",
		"198.18.0.1:41001 close-wait closer=client",
	}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts after SIGINT:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if re, lv := verdicts(flowLines(t, offline(t, wfile))), verdicts(live); !slices.Equal(re, lv) {
		t.Errorf("-w file verdicts %v, live %v", re, lv)
	}
}

// TestLiveErrors checks the messages for an unknown interface and for
// flags that need -i.
func TestLiveErrors(t *testing.T) {
	var out, errb bytes.Buffer
	st := run([]string{"-i", "no-such-if0"}, &out, &errb)
	if st != exitError || !strings.Contains(errb.String(), `no interface "no-such-if0"; available: `) || !strings.Contains(errb.String(), "lo") {
		t.Errorf("unknown interface: status %d, stderr %q", st, errb.String())
	}
	errb.Reset()
	if st := run([]string{"--duration", "1s", "x.pcap"}, &out, &errb); st != exitError || !strings.Contains(errb.String(), "needs -i") {
		t.Errorf("--duration without -i: status %d, stderr %q", st, errb.String())
	}
	errb.Reset()
	if st := run([]string{"-i", "lo", "x.pcap"}, &out, &errb); st != exitError || !strings.Contains(errb.String(), "do not also give capture files") {
		t.Errorf("-i with files: status %d, stderr %q", st, errb.String())
	}
	errb.Reset()
	if st := run([]string{"-i", "any", "--promisc"}, &out, &errb); st != exitError || !strings.Contains(errb.String(), "promisc") {
		t.Errorf("--promisc with any: status %d, stderr %q", st, errb.String())
	}
}

// TestLiveWithoutCapNetRaw runs this test binary again without CAP_NET_RAW
// (setpriv drops it from the bounding set) and checks the one-line error
// that names the capability and the setcap command.
func TestLiveWithoutCapNetRaw(t *testing.T) {
	if os.Getenv("TEARDOWN_NO_NET_RAW") == "1" {
		var out, errb bytes.Buffer
		st := run([]string{"-i", "lo", "--duration", "1s"}, &out, &errb)
		fmt.Printf("status=%d\n%s", st, errb.String())
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipping: setpriv (util-linux) is not installed")
	}
	cmd := exec.Command(setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", os.Args[0], "-test.run=^TestLiveWithoutCapNetRaw$")
	cmd.Env = append(os.Environ(), "TEARDOWN_NO_NET_RAW=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("skipping: cannot drop CAP_NET_RAW here: %v\n%s", err, b)
	}
	got := string(b)
	if !strings.Contains(got, "status=2\n") {
		t.Fatalf("want exit status 2, got:\n%s", got)
	}
	var line string
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, "teardown: ") {
			if line != "" {
				t.Errorf("more than one error line:\n%s", got)
			}
			line = l
		}
	}
	if !strings.Contains(line, "CAP_NET_RAW") || !strings.Contains(line, "setcap cap_net_raw+ep") {
		t.Errorf("error %q should name CAP_NET_RAW and setcap cap_net_raw+ep", line)
	}
}

// TestLiveCount stops after --count frames by itself and writes a report
// with exactly that many frames.
func TestLiveCount(t *testing.T) {
	needLab(t)
	t.Cleanup(netlab.CloseAll)
	lab, err := netlab.NewLab()
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	r, err := lab.StartRouter(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	lc := startLive(t, lab, netlab.ClientNode, "-i", netlab.EndpointIf, "-F", "ndjson", "-c", "3")
	defer lc.cancel()
	srv := netip.AddrPortFrom(netlab.ServerV4, 9) // nothing listens: SYN, RST, 2 frames per try
	for i := range 3 {
		if c, err := lab.Dial(netlab.ClientNode, netip.AddrPortFrom(netlab.ClientV4, uint16(42000+i)), srv, netlab.SockOpts{}); err == nil {
			c.Close()
		}
	}
	select {
	case <-lc.done:
	case <-time.After(5 * time.Second):
		t.Fatal("--count 3 did not stop the capture")
	}
	if lc.err != nil || lc.status != 0 {
		t.Fatalf("status %d, %v\n%s", lc.status, lc.err, lc.errb.String())
	}
	if !strings.Contains(lc.out.String(), `"frames":3,`) {
		t.Errorf("summary does not count 3 frames:\n%s", lc.out.String())
	}
}
