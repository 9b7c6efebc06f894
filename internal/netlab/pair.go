//go:build linux

package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NewPair creates a client and a server namespace joined by one plain veth
// pair, with no router in between: the topology for bulk traffic, where a
// user-space router would be the bottleneck. The addresses, MACs and
// interface names are those of NewLab (ClientV4, ServerV6, EndpointIf, ...),
// with the same sysctls, static neighbours and offloads off. There is no
// router namespace: Do(RouterNode, ...) fails. The caller must Close the
// Lab; on error nothing is left behind.
func NewPair() (l *Lab, err error) {
	l = &Lab{Prefix: fmt.Sprintf("%s%d-%d-", NSPrefix, os.Getpid(), labSeq.Add(1)), fds: [3]int{-1, -1, -1}}
	live.Store(l, struct{}{})
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, n := range []Node{ClientNode, ServerNode} {
		if err := ip("netns", "add", l.NSName(n)); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", l.NSName(n), err)
		}
		fd, err := unix.Open(filepath.Join("/run/netns", l.NSName(n)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening namespace %s: %w", l.NSName(n), err)
		}
		l.fds[n] = fd
		if err := l.endpointSysctls(n); err != nil {
			return nil, err
		}
	}
	c, s := l.NSName(ClientNode), l.NSName(ServerNode)
	cmds := append([][]string{
		{"-n", c, "link", "add", EndpointIf, "address", macString(ClientMAC), "type", "veth", "peer", "name", EndpointIf, "address", macString(ServerMAC), "netns", s},
	}, endpointSetup(c, s)...)
	for _, a := range cmds {
		if err := ip(a...); err != nil {
			return nil, fmt.Errorf("building pair %s: %w", l.Prefix, err)
		}
	}
	for _, n := range []Node{ClientNode, ServerNode} {
		if err := l.Sysctl(n, "net/ipv6/conf/"+EndpointIf+"/accept_ra", "0"); err != nil {
			return nil, err
		}
		if err := l.Do(n, func() error { return disableOffloads(EndpointIf) }); err != nil {
			return nil, fmt.Errorf("disabling offloads on %s in %s: %w", EndpointIf, l.NSName(n), err)
		}
	}
	return l, nil
}

// Enter locks the calling goroutine to its OS thread and moves that thread
// into the node's namespace for good, so that a worker can open many
// sockets there without switching namespaces for each. The goroutine must
// never call runtime.UnlockOSThread: when it returns, the runtime ends the
// thread instead of reusing it elsewhere. On error the thread is still
// locked (and still in its original namespace).
func (l *Lab) Enter(n Node) error {
	runtime.LockOSThread()
	if l.fds[n] < 0 {
		return fmt.Errorf("namespace %s is closed", l.NSName(n))
	}
	if err := unix.Setns(l.fds[n], unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering namespace %s: %w", l.NSName(n), err)
	}
	return nil
}
