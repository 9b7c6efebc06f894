//go:build linux

package netlab

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file holds the scenarios for the flags rst-in-time-wait and
// zero-window; they are registered in scenarios.go.

// tcpStateTimeWait is TCP_TIME_WAIT in /proc/net/tcp's st column.
const tcpStateTimeWait = 6

// tcpState returns the state (the st column of /proc/net/tcp, e.g. 6 for
// TIME_WAIT) of the IPv4 socket local -> remote in the node's namespace,
// or found=false when there is none. /proc/thread-self/net is the
// namespace of the calling thread, which Do switched.
func (l *Lab) tcpState(n Node, local, remote netip.AddrPort) (state int, found bool, err error) {
	want := procAddr(local) + " " + procAddr(remote)
	err = l.Do(n, func() error {
		f, err := os.Open("/proc/thread-self/net/tcp")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 0; sc.Scan() && line < 100000; line++ {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || fs[1]+" "+fs[2] != want {
				continue
			}
			st, err := strconv.ParseUint(fs[3], 16, 8)
			if err != nil {
				return fmt.Errorf("/proc/net/tcp state %q: %w", fs[3], err)
			}
			state, found = int(st), true
			return nil
		}
		return sc.Err()
	})
	if err != nil {
		return 0, false, fmt.Errorf("reading TCP sockets in %s: %w", l.NSName(n), err)
	}
	return state, found, nil
}

// procAddr formats an IPv4 address and port the way /proc/net/tcp does:
// the address as the native-endian (little-endian here) 32-bit word, the
// port in hex.
func procAddr(ap netip.AddrPort) string {
	a := ap.Addr().As4()
	return strings.ToUpper(hex.EncodeToString([]byte{a[3], a[2], a[1], a[0]})) + fmt.Sprintf(":%04X", ap.Port())
}

// runRSTInTimeWait: the client closes first and reaches TIME_WAIT; the
// router holds its final ACK until the server has retransmitted its FIN
// and the client has re-ACKed it (the re-ACK is held too), then releases
// the original ACK (the server goes from LAST_ACK to CLOSED) and 50 ms
// later the re-ACK, which reaches a host with no socket for the tuple: the
// server answers with a bare RST, and that RST kills the client's
// TIME_WAIT (net.ipv4.tcp_rfc1337=0).
func runRSTInTimeWait(s *Session) error {
	cl := cli4(40000)
	if err := s.Lab.Sysctl(ClientNode, "net/ipv4/tcp_rfc1337", "0"); err != nil {
		return err
	}
	tuple := Tuple(cl, srv4)
	for i, name := range []string{"ack", "reack"} {
		if err := s.Router.AddRule(Rule{Name: name, Dir: ClientToServer,
			Match: Nth(i+1, All(tuple, FinalACK(ClientToServer))), Action: Hold}); err != nil {
			return err
		}
	}
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cl, SockOpts{})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	if _, err := s.Router.Fired("ack", time.Second); err != nil {
		return err
	}
	// The server's FIN RTO is 200 ms and more; its retransmission is
	// re-ACKed by the client's TIME_WAIT, and that re-ACK is held too.
	if _, err := s.Router.Fired("reack", 2*time.Second); err != nil {
		return err
	}
	if st, ok, err := s.Lab.tcpState(ClientNode, cl, srv4); err != nil {
		return err
	} else if !ok || st != tcpStateTimeWait {
		return fmt.Errorf("client socket before the RST: state %d (found %v), want TIME_WAIT (6)", st, ok)
	}
	Sleep(settle)
	if n := s.Router.Release("ack"); n != 1 {
		return fmt.Errorf("released %d original ACKs, want 1", n)
	}
	Sleep(settle) // the server goes from LAST_ACK to CLOSED
	if st, ok, err := s.Lab.tcpState(ServerNode, srv4, cl); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("the server still has a socket in state %d after the original ACK", st)
	}
	if n := s.Router.Release("reack"); n != 1 {
		return fmt.Errorf("released %d re-ACKs, want 1", n)
	}
	Sleep(settle) // the re-ACK, the server's RST
	if st, ok, err := s.Lab.tcpState(ClientNode, cl, srv4); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("the client's socket is still in state %d after the RST: the RST did not end its TIME_WAIT", st)
	}
	Sleep(pause)
	s.Expect(FlowSpec{Client: cl, Server: srv4, Class: "lost-ack", Flags: []string{"fin-retransmit", "rst-in-time-wait"}, Closer: "client",
		Note:   "the final ACK was held, not lost: released after the re-ACK of the retransmitted FIN had been sent; the held re-ACK, released 50 ms after it, reached a closed server, whose RST ended the client's TIME_WAIT (RFC 1337 TIME_WAIT assassination)",
		Verify: verifyRSTInTimeWait})
	return nil
}

// verifyRSTInTimeWait checks the order the scenario built: at both
// vantages the server's FIN is sent twice, the client ACKs both
// transmissions, the two ACKs echo the ORIGINAL FIN's TSval, and the last
// segment is the server's bare RST whose seq is the re-ACK's ack.
func verifyRSTInTimeWait(ip *incPackets, vantage string) error {
	var fins, acks []*Packet
	var rst *Packet
	var srvFIN *Packet
	for i := range ip.pkts {
		p := &ip.pkts[i]
		switch {
		case !ip.fromClient(p) && p.Flags&TCPFin != 0:
			fins = append(fins, p)
			srvFIN = p
		case ip.fromClient(p) && srvFIN != nil && p.PureACK() && p.Ack == srvFIN.End():
			acks = append(acks, p)
		case p.Flags&TCPRst != 0:
			if rst != nil {
				return fmt.Errorf("more than one RST: %v, %v", rst, p)
			}
			rst = p
		}
	}
	if len(fins) != 2 || fins[0].Seq != fins[1].Seq {
		return fmt.Errorf("want the server's FIN twice at the same seq, got %d FINs", len(fins))
	}
	if len(acks) != 2 {
		return fmt.Errorf("want two ACKs of the server's FIN (original and re-ACK), got %d", len(acks))
	}
	for _, a := range acks {
		if !a.HasTS || a.TSecr != fins[0].TSval {
			return fmt.Errorf("ACK %v echoes TSecr %d, want the original FIN's TSval %d", a, a.TSecr, fins[0].TSval)
		}
	}
	switch vantage {
	case "client": // ACK, FIN again, re-ACK
		if !(fins[0].Frame < acks[0].Frame && acks[0].Frame < fins[1].Frame && fins[1].Frame < acks[1].Frame) {
			return fmt.Errorf("client side: want FIN, ACK, FIN, re-ACK; frames %d %d %d %d", fins[0].Frame, acks[0].Frame, fins[1].Frame, acks[1].Frame)
		}
	default: // FIN, FIN again, then the released ACK and re-ACK
		if !(fins[1].Frame < acks[0].Frame) {
			return fmt.Errorf("server side: the original ACK (frame %d) came before the retransmitted FIN (frame %d)", acks[0].Frame, fins[1].Frame)
		}
	}
	if rst == nil || rst.Src != ip.server || rst.Flags != TCPRst || rst.Seq != acks[1].Ack || rst.Frame < acks[1].Frame {
		return fmt.Errorf("want a bare RST from the server with seq = the re-ACK's ack %d after it, got %v", acks[1].Ack, rst)
	}
	if last := &ip.pkts[len(ip.pkts)-1]; last.Frame != rst.Frame {
		return fmt.Errorf("packets after the RST: %v", last)
	}
	return nil
}

// Zero-window scenario sizes: the server's SO_RCVBUF (the kernel doubles
// it) and what the client writes, several receive buffers' worth.
const (
	zwRcvBuf = 4096
	zwTotal  = 32 << 10
	zwStall  = 2 * time.Second // the server reads nothing for this long: probes at about 0.2, 0.65 and 1.5 s
	zwSnap   = 128
)

// tcpExtCounter returns a TcpExt counter of /proc/net/netstat in the
// node's namespace.
func (l *Lab) tcpExtCounter(n Node, name string) (int64, error) {
	var v int64 = -1
	err := l.Do(n, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/netstat")
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i++ {
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) == 0 || names[0] != "TcpExt:" || len(vals) != len(names) {
				continue
			}
			for j, nm := range names {
				if nm == name {
					v, err = strconv.ParseInt(vals[j], 10, 64)
					return err
				}
			}
		}
		return fmt.Errorf("no TcpExt counter %s", name)
	})
	if err != nil {
		return 0, fmt.Errorf("reading netstat in %s: %w", l.NSName(n), err)
	}
	return v, nil
}

// runZeroWindow: the server's socket has a small receive buffer and its
// application reads nothing; the client writes 32 KiB, the server's
// window closes, the client's persist timer sends zero-window probes;
// after two seconds the server reads everything and both close, client
// first.
func runZeroWindow(s *Session) error {
	cl := cli4(40000)
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{RcvBuf: zwRcvBuf})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(
		CapSpec{Vantage: "client", Suffix: ".client.pcap", Format: PcapEthernet, Snaplen: zwSnap},
		CapSpec{Vantage: "server", Suffix: ".server.pcap", Format: PcapEthernet, Snaplen: zwSnap},
	); err != nil {
		return err
	}
	k, err := s.connect(ln, cl, SockOpts{})
	if err != nil {
		return err
	}
	wrote := make(chan error, 1)
	go func() { wrote <- Send(k.c, Payload(zwTotal, 0)) }()
	Sleep(zwStall)
	skipped, err := s.Lab.tcpExtCounter(ServerNode, "TCPACKSkippedSeq")
	if err != nil {
		return err
	}
	b, err := RecvN(k.s, zwTotal)
	if err != nil {
		return err
	}
	if string(b) != string(Payload(zwTotal, 0)) {
		return fmt.Errorf("the server read different bytes than the client wrote")
	}
	if err := <-wrote; err != nil { // Send is bounded by IOTimeout
		return err
	}
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cl, Server: srv4, Class: "four-way", Flags: []string{"zero-window"}, Closer: "client",
		Note: fmt.Sprintf("server SO_RCVBUF %d (set on the listener before listen), not read for %v: the server advertised a zero window and the client sent zero-window probes; "+
			"%d probe(s) went unanswered (TcpExtTCPACKSkippedSeq: the server's 500 ms rate limit on ACKs to out-of-window segments, net.ipv4.tcp_invalid_ratelimit)", zwRcvBuf, zwStall, skipped),
		Verify: func(ip *incPackets, _ string) error { return verifyZeroWindow(ip, int(skipped)) }})
	return nil
}

// verifyZeroWindow checks that the server advertised a zero window, that
// the client probed it at least three times (a bare ACK at seq = the
// server's ack - 1, Linux's tcp_xmit_probe_skb), that every probe but the
// unanswered ones the server's kernel counted (skipped) was answered by a
// zero-window ACK, and that the window opened again and more data
// followed.
func verifyZeroWindow(ip *incPackets, skipped int) error {
	var lastAck uint32
	var lastWin uint16 = 1
	var zero, reopen, moreData *Packet
	probes, answered := 0, 0
	var probe *Packet
	for i := range ip.pkts {
		p := &ip.pkts[i]
		if !ip.fromClient(p) {
			if probe != nil && p.PureACK() && p.Win == 0 {
				answered++
			}
			probe = nil
			if p.Flags&TCPAck != 0 && p.Flags&(TCPSyn|TCPRst) == 0 {
				lastAck, lastWin = p.Ack, p.Win
				if p.Win == 0 && zero == nil {
					zero = p
				}
				if p.Win > 0 && zero != nil && reopen == nil {
					reopen = p
				}
			}
			continue
		}
		if lastWin == 0 && p.PureACK() && p.Seq == lastAck-1 {
			probes++
			probe = p
		}
		if reopen != nil && moreData == nil && p.Len > 0 {
			moreData = p
		}
	}
	switch {
	case zero == nil:
		return fmt.Errorf("the server never advertised a zero window")
	case probes < 3 || answered < 2 || probes-answered != skipped:
		return fmt.Errorf("want at least 3 zero-window probes, all but the %d the server skipped answered with window 0; got %d probes, %d answered", skipped, probes, answered)
	case reopen == nil || moreData == nil:
		return fmt.Errorf("the window never opened again (%v) or no data followed (%v)", reopen, moreData)
	}
	return nil
}
