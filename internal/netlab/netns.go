//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Node is one of the three namespaces of a topology.
type Node uint8

// The nodes.
const (
	ClientNode Node = iota
	RouterNode
	ServerNode
)

// String returns "client", "router" or "server".
func (n Node) String() string { return [...]string{"client", "router", "server"}[n] }

// NSPrefix starts the name of every namespace the lab creates.
const NSPrefix = "tdlab-"

// Addresses and interface names of the topology. Only documentation and
// benchmarking ranges are used: 198.18.0.0/15 and 2001:db8::/32.
var (
	ClientV4 = netip.MustParseAddr("198.18.0.1")
	ServerV4 = netip.MustParseAddr("198.18.0.2")
	ClientV6 = netip.MustParseAddr("2001:db8::1")
	ServerV6 = netip.MustParseAddr("2001:db8::2")

	ClientMAC = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	ServerMAC = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x00, 0x02}
)

// Interface names: the endpoints' veth is EndpointIf in both the client and
// server namespaces; the router's legs are RouterClientIf and RouterServerIf.
const (
	EndpointIf     = "eth0"
	RouterClientIf = "rc"
	RouterServerIf = "rs"
)

var labSeq atomic.Int64

// live holds every topology not yet closed, for the signal handler.
var live sync.Map // *Lab -> struct{}

// Lab is one client/router/server topology of network namespaces.
type Lab struct {
	Prefix string // e.g. "tdlab-1234-1-"
	fds    [3]int // open namespace handles
	once   sync.Once
}

// NSName returns the namespace name of a node.
func (l *Lab) NSName(n Node) string { return l.Prefix + n.String() }

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// ip runs the ip command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Available reports why the lab cannot run here, or nil: it needs root and
// the ip command with network namespace support.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("the capture lab needs root (network namespaces, AF_PACKET)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the capture lab needs iproute2's ip command: %w", err)
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		return fmt.Errorf("ip netns is not usable: %w", err)
	}
	return nil
}

// NewLab creates the three namespaces and the veths, with static addresses,
// neighbours and no offloads. The caller must Close it; on error nothing is
// left behind.
func NewLab() (l *Lab, err error) {
	l = &Lab{Prefix: fmt.Sprintf("%s%d-%d-", NSPrefix, os.Getpid(), labSeq.Add(1)), fds: [3]int{-1, -1, -1}}
	live.Store(l, struct{}{})
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for n := ClientNode; n <= ServerNode; n++ {
		if err := ip("netns", "add", l.NSName(n)); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", l.NSName(n), err)
		}
		fd, err := unix.Open(filepath.Join("/run/netns", l.NSName(n)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening namespace %s: %w", l.NSName(n), err)
		}
		l.fds[n] = fd
	}
	c, r, s := l.NSName(ClientNode), l.NSName(RouterNode), l.NSName(ServerNode)
	// Sysctls first, so the interfaces are born quiet: no router
	// advertisements accepted, no DAD, and no IPv6 at all on the router.
	for _, n := range []Node{ClientNode, ServerNode} {
		if err := l.endpointSysctls(n); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{
		{"net/ipv6/conf/all/disable_ipv6", "1"},
		{"net/ipv6/conf/default/disable_ipv6", "1"},
		{"net/ipv4/ip_forward", "0"},
	} {
		if err := l.Sysctl(RouterNode, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	cmds := [][]string{
		{"-n", c, "link", "add", EndpointIf, "address", macString(ClientMAC), "type", "veth", "peer", "name", RouterClientIf, "address", "02:00:5e:00:01:01", "netns", r},
		{"-n", s, "link", "add", EndpointIf, "address", macString(ServerMAC), "type", "veth", "peer", "name", RouterServerIf, "address", "02:00:5e:00:01:02", "netns", r},
		{"-n", r, "link", "set", RouterClientIf, "up"},
		{"-n", r, "link", "set", RouterServerIf, "up"},
	}
	cmds = append(cmds, endpointSetup(c, s)...)
	for _, a := range cmds {
		if err := ip(a...); err != nil {
			return nil, fmt.Errorf("building topology %s: %w", l.Prefix, err)
		}
	}
	for _, n := range []Node{ClientNode, ServerNode} {
		if err := l.Sysctl(n, "net/ipv6/conf/"+EndpointIf+"/accept_ra", "0"); err != nil {
			return nil, err
		}
	}
	// Offloads off: otherwise the frames the router reads carry partial
	// checksums (the receiving kernel drops them once forwarded) and
	// segments bigger than the MTU.
	for _, x := range []struct {
		n   Node
		ifn string
	}{{ClientNode, EndpointIf}, {ServerNode, EndpointIf}, {RouterNode, RouterClientIf}, {RouterNode, RouterServerIf}} {
		if err := l.Do(x.n, func() error { return disableOffloads(x.ifn) }); err != nil {
			return nil, fmt.Errorf("disabling offloads on %s in %s: %w", x.ifn, l.NSName(x.n), err)
		}
	}
	return l, nil
}

// Close deletes the namespaces (which ends every socket in them). It is
// safe to call more than once.
func (l *Lab) Close() error {
	var first error
	l.once.Do(func() {
		for i, fd := range l.fds {
			if fd >= 0 {
				unix.Close(fd)
				l.fds[i] = -1
			}
		}
		for n := ClientNode; n <= ServerNode; n++ {
			name := l.NSName(n)
			if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
				continue
			}
			if err := ip("netns", "del", name); err != nil && first == nil {
				first = fmt.Errorf("deleting namespace %s: %w", name, err)
			}
		}
		live.Delete(l)
	})
	return first
}

// CloseAll closes every open topology of this process (for signal handlers
// and panics).
func CloseAll() {
	live.Range(func(k, _ any) bool {
		k.(*Lab).Close()
		return true
	})
}

// HandleSignals closes every topology and exits with status 130 on SIGINT
// or SIGTERM. Call it once from a command's main.
func HandleSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "netlab: %v: removing namespaces\n", sig)
		CloseAll()
		os.Exit(130)
	}()
}

// CleanStale deletes "tdlab-" namespaces left by lab processes that no
// longer run (a crash, a kill -9). Namespaces of live processes are left
// alone, so concurrent runs do not disturb each other. It returns the
// names it deleted.
func CleanStale() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	var gone []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, NSPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, NSPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			continue // its process still runs
		}
		if err == nil && pid == os.Getpid() {
			continue
		}
		if err := ip("netns", "del", name); err != nil {
			return gone, fmt.Errorf("deleting stale namespace %s: %w", name, err)
		}
		gone = append(gone, name)
	}
	return gone, nil
}

// Do runs f on an OS thread switched into the node's namespace. Sockets
// and AF_PACKET handles created in f stay in that namespace after Do
// returns, and can be used from any goroutine.
func (l *Lab) Do(n Node, f func() error) error {
	if l.fds[n] < 0 {
		return fmt.Errorf("namespace %s is closed", l.NSName(n))
	}
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening own network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(l.fds[n], unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering namespace %s: %w", l.NSName(n), err)
	}
	ferr := f()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine.
		return fmt.Errorf("leaving namespace %s: %w", l.NSName(n), err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Sysctl sets a sysctl (path below /proc/sys, e.g. "net/ipv4/tcp_tw_reuse")
// inside the node's namespace.
func (l *Lab) Sysctl(n Node, key, value string) error {
	err := l.Do(n, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, l.NSName(n), err)
	}
	return nil
}

// ethtool ioctl commands (linux/ethtool.h), the legacy per-feature ones.
const (
	ethtoolSTXCSUM = 0x17
	ethtoolSSG     = 0x19
	ethtoolSTSO    = 0x1f
	ethtoolSGSO    = 0x24
	ethtoolSGRO    = 0x2c
	ethtoolGTXCSUM = 0x16
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

func ethtoolIoctl(fd int, ifname string, v *ethtoolValue) error {
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = uintptr(unsafe.Pointer(v))
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if e != 0 {
		return e
	}
	return nil
}

// disableOffloads turns off TX checksum offload, scatter-gather, TSO, GSO
// and GRO on an interface of the current namespace (like `ethtool -K IF tx
// off sg off tso off gso off gro off`), through the SIOCETHTOOL ioctl.
func disableOffloads(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for ethtool: %w", err)
	}
	defer unix.Close(fd)
	for _, c := range []struct {
		cmd  uint32
		name string
	}{{ethtoolSGRO, "gro"}, {ethtoolSGSO, "gso"}, {ethtoolSTSO, "tso"}, {ethtoolSSG, "sg"}, {ethtoolSTXCSUM, "tx"}} {
		v := ethtoolValue{cmd: c.cmd}
		if err := ethtoolIoctl(fd, ifname, &v); err != nil {
			return fmt.Errorf("ethtool %s off: %w", c.name, err)
		}
	}
	v := ethtoolValue{cmd: ethtoolGTXCSUM}
	if err := ethtoolIoctl(fd, ifname, &v); err != nil {
		return fmt.Errorf("reading tx checksum state: %w", err)
	}
	if v.data != 0 {
		return errors.New("tx checksum offload is still on")
	}
	return nil
}

// endpointSetup returns the ip(8) commands that configure the endpoints'
// interfaces once they exist: addresses (IPv6 without DAD or link-local
// autoconfiguration), links up, and permanent neighbour entries so that no
// ARP or ND appears in the captures.
func endpointSetup(c, s string) [][]string {
	return [][]string{
		{"-n", c, "link", "set", EndpointIf, "addrgenmode", "none"},
		{"-n", s, "link", "set", EndpointIf, "addrgenmode", "none"},
		{"-n", c, "addr", "add", ClientV4.String() + "/24", "dev", EndpointIf},
		{"-n", c, "addr", "add", ClientV6.String() + "/64", "dev", EndpointIf, "nodad"},
		{"-n", s, "addr", "add", ServerV4.String() + "/24", "dev", EndpointIf},
		{"-n", s, "addr", "add", ServerV6.String() + "/64", "dev", EndpointIf, "nodad"},
		{"-n", c, "link", "set", "lo", "up"},
		{"-n", s, "link", "set", "lo", "up"},
		{"-n", c, "link", "set", EndpointIf, "up"},
		{"-n", s, "link", "set", EndpointIf, "up"},
		{"-n", c, "neigh", "replace", ServerV4.String(), "lladdr", macString(ServerMAC), "dev", EndpointIf, "nud", "permanent"},
		{"-n", c, "neigh", "replace", ServerV6.String(), "lladdr", macString(ServerMAC), "dev", EndpointIf, "nud", "permanent"},
		{"-n", s, "neigh", "replace", ClientV4.String(), "lladdr", macString(ClientMAC), "dev", EndpointIf, "nud", "permanent"},
		{"-n", s, "neigh", "replace", ClientV6.String(), "lladdr", macString(ClientMAC), "dev", EndpointIf, "nud", "permanent"},
	}
}

// endpointSysctls makes an endpoint namespace quiet and its TCP
// deterministic before its interface exists: no router advertisements, no
// DAD, no link-local autoconfiguration, and no tail loss probe (a TLP fires
// 10 ms after the last segment when an ACK is delayed, which would add FIN
// retransmissions under load and make captures flaky).
func (l *Lab) endpointSysctls(n Node) error {
	for _, kv := range [][2]string{
		{"net/ipv6/conf/all/accept_ra", "0"},
		{"net/ipv6/conf/default/accept_ra", "0"},
		{"net/ipv6/conf/all/accept_dad", "0"},
		{"net/ipv6/conf/default/accept_dad", "0"},
		{"net/ipv6/conf/default/addr_gen_mode", "1"},
		{"net/ipv4/tcp_early_retrans", "0"},
	} {
		if err := l.Sysctl(n, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}
