//go:build linux

// Command benchgen builds the large capture of teardown's speed and memory
// benchmark: hundreds of thousands of short TCP connections made by real
// Linux kernels in two network namespaces joined by a plain veth pair (no
// user-space router in the path), captured on the client's veth through an
// AF_PACKET TPACKET_V3 ring with a small snap length. It needs root.
//
//	go run ./internal/netlab/cmd/benchgen -out /tmp/teardown-bench/big.pcap -conns 300000
//
// The connections end in a mix of ways, each kind on its own server ports
// (kind base port + 0..ports-1), about a fifth of them over IPv6:
//
//	client-close  client sends a request, reads the response, closes first (port 8000+)
//	server-close  the server answers and closes first (HTTP/1.0 style, 8100+)
//	client-abort  the client closes with SO_LINGER 0 after the response: RST (8200+)
//	server-abort  the server closes with SO_LINGER 0 after answering: RST (8300+)
//	unread        the server closes with most of the request unread: RST (8400+)
//	refused       SYN to a port with no listener: RST (8500+)
//
// The client namespace gets the whole ephemeral port range and tcp_tw_reuse
// so that the connections fit in the client's TIME_WAIT. At the end it
// prints what it made and the kernel's count of frames the capture ring
// dropped, which should be 0 (-max-drops bounds it).
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/internal/netlab"
)

// kind is one way a benchmark connection ends.
type kind struct {
	name   string
	weight int    // per thousand connections
	base   uint16 // first server port
	listen bool
}

var kinds = []kind{
	{"client-close", 450, 8000, true},
	{"server-close", 300, 8100, true},
	{"client-abort", 50, 8200, true},
	{"server-abort", 50, 8300, true},
	{"unread", 80, 8400, true},
	{"refused", 70, 8500, false},
}

const (
	kClientClose = iota
	kServerClose
	kClientAbort
	kServerAbort
	kUnread
	kRefused
)

// ioTimeout bounds every connection of the run.
const ioTimeout = 5 * time.Second

type config struct {
	out      string
	conns    int
	workers  int
	v6       float64
	snaplen  int
	ports    int
	maxTime  time.Duration
	seed     uint64
	maxDrops uint
}

func main() {
	var c config
	flag.StringVar(&c.out, "out", "/tmp/teardown-bench/big.pcap", "capture `FILE` to write (its directory is created)")
	flag.IntVar(&c.conns, "conns", 300000, "number of connections to make")
	flag.IntVar(&c.workers, "workers", 96, "concurrent client goroutines")
	flag.Float64Var(&c.v6, "v6", 0.2, "fraction of connections over IPv6")
	flag.IntVar(&c.snaplen, "snaplen", 96, "bytes kept of each frame")
	flag.IntVar(&c.ports, "ports", 8, "server ports per kind of connection")
	flag.DurationVar(&c.maxTime, "max-time", 170*time.Second, "stop starting connections after this long")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the connection mix")
	flag.UintVar(&c.maxDrops, "max-drops", 0, "fail if the capture ring dropped more frames than this")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: benchgen [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if c.conns <= 0 || c.workers <= 0 || c.ports <= 0 || c.ports > 100 || c.snaplen < 64 || c.v6 < 0 || c.v6 > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := netlab.Available(); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(2)
	}
	netlab.HandleSignals()
	if _, err := netlab.CleanStale(); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
	}
	if err := run(c); err != nil {
		netlab.CloseAll()
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

// tally counts the outcomes of one kind of connection.
type tally struct {
	made, failed atomic.Int64
	firstErr     atomic.Value // string
}

func (t *tally) fail(err error) {
	t.failed.Add(1)
	t.firstErr.CompareAndSwap(nil, err.Error())
}

func run(c config) error {
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	lab, err := netlab.NewPair()
	if err != nil {
		return err
	}
	defer lab.Close()
	for _, kv := range [][2]string{
		{"net/ipv4/ip_local_port_range", "1024 65535"},
		{"net/ipv4/tcp_tw_reuse", "1"},
		{"net/ipv4/tcp_max_tw_buckets", "2000000"},
	} {
		if err := lab.Sysctl(netlab.ClientNode, kv[0], kv[1]); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{
		{"net/core/somaxconn", "65535"},
		{"net/ipv4/tcp_max_syn_backlog", "65535"},
		{"net/ipv4/tcp_max_tw_buckets", "2000000"},
	} {
		if err := lab.Sysctl(netlab.ServerNode, kv[0], kv[1]); err != nil {
			return err
		}
	}

	var lns []*net.TCPListener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var serverWG sync.WaitGroup
	tallies := make([]tally, len(kinds))
	for ki, k := range kinds {
		if !k.listen {
			continue
		}
		for p := range c.ports {
			for _, a := range []netip.Addr{netlab.ServerV4, netlab.ServerV6} {
				ln, err := lab.Listen(netlab.ServerNode, netip.AddrPortFrom(a, k.base+uint16(p)), netlab.SockOpts{ReuseAddr: true})
				if err != nil {
					return err
				}
				lns = append(lns, ln)
				serverWG.Add(1)
				go func() {
					defer serverWG.Done()
					accept(ln, ki, &tallies[ki], &serverWG)
				}()
			}
		}
	}

	cp, err := startCapture(lab, c.out, c.snaplen)
	if err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond) // the ring is ready before the first SYN

	start := time.Now()
	deadline := start.Add(c.maxTime)
	var next atomic.Int64
	var clientWG sync.WaitGroup
	errs := make(chan error, c.workers)
	for w := range c.workers {
		clientWG.Add(1)
		go func() {
			defer clientWG.Done()
			// The goroutine stays locked to a thread of the client
			// namespace and never unlocks: the runtime ends the thread
			// when it returns.
			if err := lab.Enter(netlab.ClientNode); err != nil {
				errs <- err
				return
			}
			rng := rand.New(rand.NewPCG(c.seed, uint64(w)))
			for {
				i := next.Add(1) - 1
				if i >= int64(c.conns) || time.Now().After(deadline) {
					return
				}
				ki := pick(rng.IntN(1000))
				addr := netlab.ServerV4
				if rng.Float64() < c.v6 {
					addr = netlab.ServerV6
				}
				port := kinds[ki].base + uint16(rng.IntN(c.ports))
				req, resp := 20+rng.IntN(380), 50+rng.IntN(1350)
				if err := client(netip.AddrPortFrom(addr, port), ki, req, resp); err != nil {
					tallies[ki].fail(err)
				} else {
					tallies[ki].made.Add(1)
				}
			}
		}()
	}
	progressDone := make(chan struct{})
	go progress(start, &next, c.conns, progressDone)
	clientWG.Wait()
	close(progressDone)
	close(errs)
	for err := range errs {
		return err
	}
	elapsed := time.Since(start)
	for _, ln := range lns {
		ln.Close()
	}
	serverWG.Wait()
	time.Sleep(100 * time.Millisecond) // the last frames reach the ring
	st, err := cp.stop()
	if err != nil {
		return err
	}

	total := int64(0)
	fmt.Printf("benchgen: %s: %d frames (%d bytes each at most), %.1f MB, in %.1fs\n",
		c.out, st.frames, c.snaplen, float64(st.bytes)/1e6, elapsed.Seconds())
	for i, k := range kinds {
		t := &tallies[i]
		total += t.made.Load() + t.failed.Load()
		line := fmt.Sprintf("  %-13s %7d", k.name, t.made.Load())
		if n := t.failed.Load(); n > 0 {
			line += fmt.Sprintf("  (%d did not go as planned, e.g. %v)", n, t.firstErr.Load())
		}
		fmt.Println(line)
	}
	fmt.Printf("  connections   %7d  (%.0f/s, %.0f frames/s)\n", total, float64(total)/elapsed.Seconds(), float64(st.frames)/elapsed.Seconds())
	fmt.Printf("  kernel drops  %d of %d frames seen by the ring, %d queue freezes\n", st.drops, st.seen, st.freezes)
	if st.drops > c.maxDrops {
		return fmt.Errorf("the capture ring dropped %d frames (more than -max-drops %d): the capture is incomplete", st.drops, c.maxDrops)
	}
	return nil
}

// pick maps a number in [0, 1000) to a kind by weight.
func pick(n int) int {
	for i, k := range kinds {
		if n < k.weight {
			return i
		}
		n -= k.weight
	}
	return kClientClose
}

func progress(start time.Time, next *atomic.Int64, total int, done <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			n := min(next.Load(), int64(total))
			fmt.Fprintf(os.Stderr, "benchgen: %d/%d connections after %.0fs\n", n, total, time.Since(start).Seconds())
		}
	}
}

// The request starts with its own length and the length of the response
// wanted, 2 bytes each, big-endian.
const hdrLen = 4

func client(srv netip.AddrPort, ki, reqLen, respLen int) error {
	d := net.Dialer{Timeout: ioTimeout, KeepAlive: -1}
	nc, err := d.Dial("tcp", srv.String())
	if ki == kRefused {
		if err == nil {
			nc.Close()
			return errors.New("connected to a port with no listener")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("want connection refused: %w", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return fmt.Errorf("setting deadline: %w", err)
	}
	req := make([]byte, reqLen)
	binary.BigEndian.PutUint16(req[0:2], uint16(reqLen))
	binary.BigEndian.PutUint16(req[2:4], uint16(respLen))
	for i := hdrLen; i < reqLen; i++ {
		req[i] = 'a' + byte(i%26)
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("writing request: %w", err)
	}
	switch ki {
	case kClientClose:
		if _, err := io.ReadFull(c, make([]byte, respLen)); err != nil {
			return fmt.Errorf("reading response: %w", err)
		}
	case kClientAbort:
		if _, err := io.ReadFull(c, make([]byte, respLen)); err != nil {
			return fmt.Errorf("reading response: %w", err)
		}
		if err := c.SetLinger(0); err != nil {
			return fmt.Errorf("SO_LINGER: %w", err)
		}
	case kServerClose:
		b, err := io.ReadAll(c)
		if err != nil {
			return fmt.Errorf("reading to EOF: %w", err)
		}
		if len(b) != respLen {
			return fmt.Errorf("response of %d bytes, want %d", len(b), respLen)
		}
	case kServerAbort, kUnread:
		// The reset may come before or after the response is read.
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			return fmt.Errorf("want a reset: %w", err)
		}
	}
	return nil
}

// accept serves one listener until it is closed.
func accept(ln *net.TCPListener, ki int, t *tally, wg *sync.WaitGroup) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serve(c, ki); err != nil {
				t.fail(fmt.Errorf("server: %w", err))
			}
		}()
	}
}

func serve(c *net.TCPConn, ki int) error {
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return fmt.Errorf("setting deadline: %w", err)
	}
	var hdr [hdrLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("reading request header: %w", err)
	}
	reqLen, respLen := int(binary.BigEndian.Uint16(hdr[0:2])), int(binary.BigEndian.Uint16(hdr[2:4]))
	if ki != kUnread && reqLen > hdrLen {
		if _, err := io.ReadFull(c, make([]byte, reqLen-hdrLen)); err != nil {
			return fmt.Errorf("reading request: %w", err)
		}
	}
	resp := make([]byte, respLen)
	for i := range resp {
		resp[i] = 'A' + byte(i%26)
	}
	if ki == kServerAbort {
		if err := c.SetLinger(0); err != nil {
			return fmt.Errorf("SO_LINGER: %w", err)
		}
	}
	if _, err := c.Write(resp); err != nil {
		return fmt.Errorf("writing response: %w", err)
	}
	switch ki {
	case kClientClose, kClientAbort:
		// Wait for the client's FIN or RST before closing.
		io.Copy(io.Discard, c)
	}
	return nil
}

// capture writes the frames of the client's veth to a pcap file.
type capture struct {
	tp    *afpacket.TPacket
	f     *os.File
	buf   *bufio.Writer
	w     *pcapgo.Writer
	stopc chan struct{}
	done  chan error
	st    captureStats
}

type captureStats struct {
	frames, bytes int64
	seen, drops   uint
	freezes       uint
}

func startCapture(lab *netlab.Lab, path string, snaplen int) (*capture, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating capture: %w", err)
	}
	cp := &capture{f: f, buf: bufio.NewWriterSize(f, 1<<20), stopc: make(chan struct{}), done: make(chan error, 1)}
	cp.w = pcapgo.NewWriter(cp.buf)
	if err := cp.w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing capture header: %w", err)
	}
	err = lab.Do(netlab.ClientNode, func() error {
		var err error
		cp.tp, err = afpacket.NewTPacket(
			afpacket.OptInterface(netlab.EndpointIf),
			afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
			afpacket.OptFrameSize(1<<11),
			afpacket.OptBlockSize(1<<20),
			afpacket.OptNumBlocks(128),
			afpacket.OptBlockTimeout(10*time.Millisecond),
			afpacket.OptPollTimeout(50*time.Millisecond),
		)
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening AF_PACKET on %s: %w", netlab.EndpointIf, err)
	}
	if err := cp.tp.InitSocketStats(); err != nil {
		cp.tp.Close()
		f.Close()
		return nil, fmt.Errorf("clearing capture counters: %w", err)
	}
	go func() { cp.done <- cp.loop(snaplen) }()
	return cp, nil
}

func (cp *capture) loop(snaplen int) error {
	stopping := false
	for {
		if !stopping {
			select {
			case <-cp.stopc:
				stopping = true
			default:
			}
		}
		data, ci, err := cp.tp.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			if stopping {
				return nil // drained
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("capturing: %w", err)
		}
		n := min(len(data), snaplen)
		if err := cp.w.WritePacket(gopacket.CaptureInfo{Timestamp: ci.Timestamp, CaptureLength: n, Length: ci.Length}, data[:n]); err != nil {
			return fmt.Errorf("writing capture: %w", err)
		}
		cp.st.frames++
		cp.st.bytes += int64(16 + n)
	}
}

// stop drains the ring, closes the file and returns the counters.
func (cp *capture) stop() (captureStats, error) {
	close(cp.stopc)
	err := <-cp.done
	_, v3, serr := cp.tp.SocketStats()
	cp.tp.Close()
	if err == nil && serr != nil {
		err = fmt.Errorf("reading capture counters: %w", serr)
	}
	cp.st.seen, cp.st.drops, cp.st.freezes = v3.Packets(), v3.Drops(), v3.QueueFreezes()
	if ferr := cp.buf.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("flushing capture: %w", ferr)
	}
	if ferr := cp.f.Close(); ferr != nil && err == nil {
		err = fmt.Errorf("closing capture: %w", ferr)
	}
	cp.st.bytes += 24
	return cp.st, err
}
