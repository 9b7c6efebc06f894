package capture

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"

	"teardown/reassembly"
)

// Live reads TCP segments from a network interface with an AF_PACKET
// socket and a TPACKET_V3 ring shared with the kernel: no libpcap, no cgo.
// The capture filter runs in the kernel, so frames it rejects never reach
// user space.
//
// The direction of a frame (Segment.PktType: outgoing or to this host) is
// read from the Ethernet addresses: a frame whose source is the
// interface's own address was sent by this host. gopacket's afpacket does
// not pass on the kernel's packet type.
//
// Next and Close are for one goroutine; Stop and Stats may be called from
// any.
type Live struct {
	cfg     LiveConfig
	tp      *afpacket.TPacket
	filter  *Filter
	user    bool  // frames from before the filter was attached are filtered in user space
	attach  int64 // when the kernel filter was attached, Unix ns
	snaplen int

	mu     sync.Mutex // guards ifaces
	ifaces map[int]*liveIface

	stop      atomic.Bool
	stopAt    atomic.Int64 // when Stop was called, Unix ns
	closeOnce sync.Once

	dec   reassembly.Decoder
	frame Frame
	info  Input
	warn  func(Warning)
	err   error

	statsMu sync.Mutex
	stats   LiveStats
}

type liveIface struct {
	Interface
	mac  net.HardwareAddr
	seen bool // a frame came from it (or it is the one interface captured)
}

// drainLimit bounds how long Next keeps reading the frames still in the
// ring after Stop.
const drainLimit = 250 * time.Millisecond

// OpenLive starts a live capture. Without CAP_NET_RAW it fails with an
// error that says how to grant it; for an unknown interface, the error
// lists the interfaces there are.
func OpenLive(cfg LiveConfig, warn func(Warning)) (*Live, error) {
	if cfg.Interface == "" {
		return nil, errors.New("no interface given")
	}
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.Snaplen < 64 {
		return nil, fmt.Errorf("snap length %d is too short for the headers (at least 64)", cfg.Snaplen)
	}
	if cfg.Snaplen > MaxRecord {
		return nil, fmt.Errorf("snap length %d is over the limit of %d", cfg.Snaplen, MaxRecord)
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.Filter == nil {
		cfg.Filter = DefaultFilter()
	}
	if warn == nil {
		warn = func(Warning) {}
	}
	all := cfg.Interface == AnyInterface
	if all && cfg.Promisc {
		return nil, errors.New("promiscuous mode needs one interface, not \"any\"")
	}
	l := &Live{cfg: cfg, filter: cfg.Filter, snaplen: cfg.Snaplen, warn: warn, ifaces: map[int]*liveIface{}}
	name := cfg.Interface
	var only *net.Interface
	if !all {
		var err error
		if only, err = net.InterfaceByName(name); err != nil {
			return nil, unknownInterface(name)
		}
	}
	if err := l.loadInterfaces(); err != nil {
		return nil, err
	}
	if only != nil {
		if i := l.ifaces[only.Index]; i != nil {
			i.seen = true
		}
	} else {
		name = ""
	}
	prog, err := cfg.Filter.kernelProgram(cfg.Snaplen)
	if err != nil {
		return nil, err
	}

	// Blocks of 256 KiB (the ring is made of whole blocks); frames are
	// placed one after the other inside a block, so the frame size only
	// bounds one frame.
	const blockSize = 256 << 10
	frameSize := 2048
	for frameSize < cfg.Snaplen+128 {
		frameSize *= 2
	}
	blocks := max(cfg.Buffer/blockSize, 2)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(name),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(frameSize),
		afpacket.OptBlockSize(blockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(20*time.Millisecond),
		afpacket.OptPollTimeout(cfg.PollTimeout),
	)
	if err != nil {
		return nil, openError(cfg.Interface, err)
	}
	l.tp = tp
	if err := tp.SetBPF(prog); err != nil {
		tp.Close()
		return nil, fmt.Errorf("attaching the capture filter to %s: %w", cfg.Interface, err)
	}
	// Frames that arrived between opening the socket and attaching the
	// filter are in the ring unfiltered: Next filters those in user space.
	l.user = true
	l.attach = time.Now().UnixNano()
	if cfg.Promisc {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("promiscuous mode on %s: %w", cfg.Interface, err)
		}
	}
	l.info = Input{Name: cfg.Interface, Format: "live", Complete: true}
	return l, nil
}

// unknownInterface names the interfaces there are.
func unknownInterface(name string) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("no interface %q (listing the interfaces: %v)", name, err)
	}
	names := make([]string, 0, len(ifs)+1)
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	names = append(names, AnyInterface)
	return fmt.Errorf("no interface %q; available: %s", name, strings.Join(names, ", "))
}

// openError explains a failure to open the capture socket.
func openError(iface string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		exe, _ := os.Executable()
		if exe == "" {
			exe = "teardown"
		}
		return fmt.Errorf("capturing on %s needs the CAP_NET_RAW capability: run as root, or grant it with: sudo setcap cap_net_raw+ep %s", iface, exe)
	}
	return fmt.Errorf("opening AF_PACKET socket on %s: %w", iface, err)
}

// Next waits for the next TCP segment and decodes it into seg. It returns
// (true, nil) for a segment, (false, nil) when the poll timeout passed
// without one (so that the caller can do periodic work), (false,
// ErrStopped) once Stop was called and the ring is drained, and (false,
// err) on a failure.
func (l *Live) Next(seg *reassembly.Segment) (bool, error) {
	if l.err != nil {
		return false, l.err
	}
	for {
		if l.cfg.Count > 0 && l.info.Frames >= l.cfg.Count {
			return false, l.setErr(ErrStopped)
		}
		stopping := l.stop.Load()
		if stopping && time.Now().UnixNano()-l.stopAt.Load() > int64(drainLimit) {
			return false, l.setErr(ErrStopped)
		}
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, syscall.EINTR) {
				if stopping {
					return false, l.setErr(ErrStopped)
				}
				return false, nil
			}
			if errors.Is(err, afpacket.ErrPoll) && stopping {
				return false, l.setErr(ErrStopped)
			}
			return false, l.setErr(fmt.Errorf("reading from %s: %w", l.cfg.Interface, err))
		}
		at := ci.Timestamp.UnixNano()
		ifc := l.iface(ci.InterfaceIndex)
		ifc.seen = true
		if l.user {
			if at >= l.attach {
				l.user = false
			} else if !l.filter.Match(ifc.Link, data) {
				continue
			}
		}
		if ifc.Link != reassembly.LinkEthernet && !l.filter.IsDefault() && !l.filter.Match(ifc.Link, data) {
			continue // not filtered in the kernel: a raw-IP device under "any"
		}
		l.info.Frames++
		if l.info.FirstAt == 0 {
			l.info.FirstAt = at
		}
		l.info.LastAt = max(l.info.LastAt, at)
		if l.cfg.OnFrame != nil {
			l.frame = Frame{Number: l.info.Frames, At: at, Iface: ci.InterfaceIndex, IfName: ifc.Name, Link: ifc.Link, Data: data, Len: ci.Length}
			l.cfg.OnFrame(&l.frame)
		}
		seg.File, seg.Frame, seg.At, seg.Iface = 0, l.info.Frames, at, ci.InterfaceIndex
		res := l.dec.Decode(ifc.Link, data, seg)
		switch res.Status {
		case reassembly.StatusTCP:
			l.info.TCP++
			if seg.CapTrunc {
				l.info.OptionsCut++
			}
			if ifc.Link == reassembly.LinkEthernet && len(ifc.mac) == 6 && len(data) >= 12 {
				seg.PktType = direction(data, ifc.mac)
			}
			return true, nil
		case reassembly.StatusNotTCP:
			l.info.NonTCP++
		case reassembly.StatusFragment:
			l.info.Fragments++
		case reassembly.StatusTruncated:
			l.info.Truncated++
		default:
			l.info.Malformed++
		}
	}
}

func (l *Live) setErr(err error) error {
	l.err = err
	return err
}

// direction tells the packet type of an Ethernet frame on an interface
// with address mac.
func direction(frame []byte, mac net.HardwareAddr) uint8 {
	dst, src := frame[0:6], frame[6:12]
	switch {
	case bytes.Equal(src, mac):
		return reassembly.PktOutgoing
	case bytes.Equal(dst, mac):
		return reassembly.PktHost
	case dst[0]&1 != 0 && bytes.Equal(dst, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}):
		return reassembly.PktBroadcast
	case dst[0]&1 != 0:
		return reassembly.PktMulticast
	}
	return reassembly.PktOtherHost
}

// iface returns what is known of an interface, reloading the list once
// for an index not seen before (an interface created during the capture).
func (l *Live) iface(idx int) *liveIface {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.ifaces[idx]; i != nil {
		return i
	}
	l.mu.Unlock()
	err := l.loadInterfaces()
	l.mu.Lock()
	if i := l.ifaces[idx]; i != nil {
		return i
	}
	if err != nil {
		l.warn(Warning{File: l.cfg.Interface, Offset: -1, Msg: err.Error()})
	}
	i := &liveIface{Interface: Interface{Index: idx, Name: fmt.Sprintf("if%d", idx), Link: linkUnsupported, Snaplen: l.snaplen}}
	l.ifaces[idx] = i
	l.warn(Warning{File: l.cfg.Interface, Offset: -1, Msg: fmt.Sprintf("frames from unknown interface index %d are not decoded", idx)})
	return i
}

// linkUnsupported is a link type the decoder does not know: frames of
// devices that are neither Ethernet-like nor raw IP are counted, not
// decoded.
const linkUnsupported reassembly.LinkType = 0xffff

// loadInterfaces reads the interfaces of the network namespace with
// their device types, through netlink (sysfs may show another namespace).
func (l *Live) loadInterfaces() error {
	tab, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(tab)
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	found := map[int]*liveIface{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		ifi := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		i := &liveIface{Interface: Interface{Index: int(ifi.Index), ARPHRD: ifi.Type, Snaplen: l.snaplen}}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				i.Name = string(bytes.TrimRight(a.Value, "\x00"))
			case syscall.IFLA_ADDRESS:
				i.mac = slices.Clone(a.Value)
			}
		}
		switch ifi.Type {
		case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
			i.Link = reassembly.LinkEthernet
		case unix.ARPHRD_NONE, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE, unix.ARPHRD_IP6GRE, unix.ARPHRD_RAWIP:
			i.Link = reassembly.LinkRaw
		default:
			i.Link = linkUnsupported
		}
		if ifi.Type == unix.ARPHRD_LOOPBACK {
			i.mac = nil // all zeros: direction unknown
		}
		found[i.Index] = i
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for idx, i := range found {
		if l.ifaces[idx] == nil {
			l.ifaces[idx] = i
		}
	}
	return nil
}

// Interfaces returns the interfaces frames were captured on so far (and
// the one interface asked for), sorted by index.
func (l *Live) Interfaces() []Interface {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Interface
	for _, i := range l.ifaces {
		if i.seen {
			out = append(out, i.Interface)
		}
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	return out
}

// Stop makes Next return ErrStopped once the frames already in the ring
// are read (at most drainLimit later). It is safe to call from another
// goroutine, more than once.
func (l *Live) Stop() {
	if l.stop.CompareAndSwap(false, true) {
		l.stopAt.Store(time.Now().UnixNano())
	}
}

// Stats returns the kernel's counters since the capture started.
func (l *Live) Stats() (LiveStats, error) {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.tp == nil {
		return l.stats, nil
	}
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return l.stats, fmt.Errorf("reading capture statistics: %w", err)
	}
	l.stats = LiveStats{Received: uint64(v3.Packets()), Drops: uint64(v3.Drops()), Freezes: uint64(v3.QueueFreezes())}
	return l.stats, nil
}

// Input describes the capture for reports, with its counters so far.
func (l *Live) Input() Input {
	in := l.info
	links := map[string]bool{}
	for _, i := range l.Interfaces() {
		if i.Link != linkUnsupported && !links[i.Link.String()] {
			links[i.Link.String()] = true
			in.LinkTypes = append(in.LinkTypes, i.Link.String())
		}
	}
	slices.Sort(in.LinkTypes)
	return in
}

// Close releases the socket and its ring. The final Stats are kept.
func (l *Live) Close() error {
	l.closeOnce.Do(func() {
		l.Stats()
		l.statsMu.Lock()
		l.tp.Close()
		l.tp = nil
		l.statsMu.Unlock()
	})
	return nil
}
