//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SockOpts are socket options set through a Control function before
// bind/connect.
type SockOpts struct {
	ReuseAddr bool // SO_REUSEADDR (bind a port still in TIME_WAIT)
	Linger0   bool // SO_LINGER {on, 0}: close() sends RST
	MaxSeg    int  // TCP_MAXSEG, 0 to leave alone
	RcvBuf    int  // SO_RCVBUF, 0 to leave alone
}

func (o SockOpts) control(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		s := int(fd)
		if o.ReuseAddr {
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", serr)
				return
			}
		}
		if o.Linger0 {
			if serr = unix.SetsockoptLinger(s, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); serr != nil {
				serr = fmt.Errorf("SO_LINGER: %w", serr)
				return
			}
		}
		if o.MaxSeg > 0 {
			if serr = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_MAXSEG, o.MaxSeg); serr != nil {
				serr = fmt.Errorf("TCP_MAXSEG: %w", serr)
				return
			}
		}
		if o.RcvBuf > 0 {
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RcvBuf); serr != nil {
				serr = fmt.Errorf("SO_RCVBUF: %w", serr)
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen opens a TCP listener in the node's namespace.
func (l *Lab) Listen(n Node, addr netip.AddrPort, o SockOpts) (*net.TCPListener, error) {
	var ln net.Listener
	err := l.Do(n, func() error {
		lc := net.ListenConfig{Control: o.control, KeepAlive: -1}
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, l.NSName(n), err)
	}
	return ln.(*net.TCPListener), nil
}

// DialTimeout bounds every connect the lab makes.
const DialTimeout = 3 * time.Second

// Dial connects from the node's namespace, from local (port 0 for an
// ephemeral one) to remote.
func (l *Lab) Dial(n Node, local, remote netip.AddrPort, o SockOpts) (*net.TCPConn, error) {
	var c net.Conn
	err := l.Do(n, func() error {
		d := net.Dialer{Timeout: DialTimeout, Control: o.control, KeepAlive: -1,
			LocalAddr: net.TCPAddrFromAddrPort(local)}
		var err error
		c, err = d.Dial("tcp", remote.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting %s -> %s in %s: %w", local, remote, l.NSName(n), err)
	}
	return c.(*net.TCPConn), nil
}

// IOTimeout bounds every read and write of a scenario.
const IOTimeout = 5 * time.Second

// Accept accepts one connection within IOTimeout.
func Accept(ln *net.TCPListener) (*net.TCPConn, error) {
	if err := ln.SetDeadline(time.Now().Add(IOTimeout)); err != nil {
		return nil, fmt.Errorf("setting accept deadline: %w", err)
	}
	c, err := ln.AcceptTCP()
	if err != nil {
		return nil, fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
	}
	return c, nil
}

// Send writes b within IOTimeout.
func Send(c *net.TCPConn, b []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(IOTimeout)); err != nil {
		return fmt.Errorf("setting write deadline: %w", err)
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("writing %d bytes to %s: %w", len(b), c.RemoteAddr(), err)
	}
	return nil
}

// RecvN reads exactly n bytes within IOTimeout.
func RecvN(c *net.TCPConn, n int) ([]byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(IOTimeout)); err != nil {
		return nil, fmt.Errorf("setting read deadline: %w", err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, fmt.Errorf("reading %d bytes from %s: %w", n, c.RemoteAddr(), err)
	}
	return b, nil
}

// RecvEOF reads until the peer's FIN within IOTimeout and returns the
// bytes read. A reset is an error.
func RecvEOF(c *net.TCPConn) ([]byte, error) {
	if err := c.SetReadDeadline(time.Now().Add(IOTimeout)); err != nil {
		return nil, fmt.Errorf("setting read deadline: %w", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return b, fmt.Errorf("reading to EOF from %s: %w", c.RemoteAddr(), err)
	}
	return b, nil
}

// RecvReset reads until the connection fails with ECONNRESET, within
// IOTimeout; any other outcome is an error.
func RecvReset(c *net.TCPConn) error {
	if err := c.SetReadDeadline(time.Now().Add(IOTimeout)); err != nil {
		return fmt.Errorf("setting read deadline: %w", err)
	}
	_, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return fmt.Errorf("want connection reset by %s, got %v", c.RemoteAddr(), err)
}

// Payload returns n bytes of printable, deterministic payload.
func Payload(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i+int(tag))%26)
	}
	return b
}
