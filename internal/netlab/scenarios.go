//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Default endpoints of the scenarios.
var (
	srv4 = netip.AddrPortFrom(ServerV4, 8080)
	srv6 = netip.AddrPortFrom(ServerV6, 8080)
)

func cli4(port uint16) netip.AddrPort { return netip.AddrPortFrom(ClientV4, port) }
func cli6(port uint16) netip.AddrPort { return netip.AddrPortFrom(ClientV6, port) }

// conn is one connection with both of its ends in hand.
type conn struct {
	c, s *net.TCPConn
}

// connect dials from local to the listener's address and accepts.
func (s *Session) connect(ln *net.TCPListener, local netip.AddrPort, co SockOpts) (*conn, error) {
	remote := ln.Addr().(*net.TCPAddr).AddrPort()
	c, err := s.Lab.Dial(ClientNode, local, remote, co)
	if err != nil {
		return nil, err
	}
	sv, err := Accept(ln)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &conn{c, sv}, nil
}

// exchange sends a request of req bytes and a response of resp bytes.
func (k *conn) exchange(req, resp int) error {
	if req > 0 {
		if err := Send(k.c, Payload(req, 0)); err != nil {
			return err
		}
		if _, err := RecvN(k.s, req); err != nil {
			return err
		}
	}
	if resp > 0 {
		if err := Send(k.s, Payload(resp, 1)); err != nil {
			return err
		}
		if _, err := RecvN(k.c, resp); err != nil {
			return err
		}
	}
	return nil
}

// delayACKs puts a connected socket in delayed-ACK (pingpong) mode with
// TCP_QUICKACK=0, so an ACK waits for the next segment the application
// sends: the way to get a FIN piggybacked on the ACK of the peer's FIN.
func delayACKs(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("raw conn: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_QUICKACK 0: %w", serr)
	}
	return nil
}

// closeClientFirst: the client closes, the server reads to EOF, waits
// longer than the delayed-ACK timer (so its ACK goes out alone) and closes.
func (k *conn) closeClientFirst() error {
	if err := k.c.Close(); err != nil {
		return fmt.Errorf("client close: %w", err)
	}
	if _, err := RecvEOF(k.s); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.s.Close(); err != nil {
		return fmt.Errorf("server close: %w", err)
	}
	Sleep(settle)
	return nil
}

// closeServerFirst is closeClientFirst with the roles swapped.
func (k *conn) closeServerFirst() error {
	if err := k.s.Close(); err != nil {
		return fmt.Errorf("server close: %w", err)
	}
	if _, err := RecvEOF(k.c); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.c.Close(); err != nil {
		return fmt.Errorf("client close: %w", err)
	}
	Sleep(settle)
	return nil
}

func init() {
	for _, sc := range []*Scenario{
		{Name: "fourway-client-first", Description: "Clean four-way close, client first: request and response, the client closes, the server ACKs the FIN at once and closes 300 ms later (four segments).", Run: runFourWay(false, false)},
		{Name: "fourway-server-first", Description: "Clean four-way close, server first (HTTP/1.0 style): the server closes after its response, the client reads to EOF and closes 300 ms later; the server holds TIME_WAIT.", Run: runFourWay(true, false)},
		{Name: "fourway-piggyback", Description: "Clean close in three segments: the server is in delayed-ACK mode (TCP_QUICKACK=0) and closes as soon as it reads EOF, so its FIN rides on the ACK of the client's FIN.", Run: runPiggyback},
		{Name: "fourway-nodata", Description: "Clean four-way close of a connection that carried no data: handshake, client FIN, server ACK, server FIN 300 ms later, final ACK.", Run: runNoData},
		{Name: "fourway-half-close", Description: "Half-close: the client sends a request and shutdown(SHUT_WR); the server keeps sending five chunks for 100 ms after the client's FIN, then closes.", Run: runHalfClose},
		{Name: "fourway-ipv6", Description: "IPv6 clean four-way close, client first, with data.", Run: runFourWay(false, true)},
		{Name: "simultaneous", Description: "Simultaneous close: 50 ms one-way delay on the router, both ends call close() at the same instant, the FINs cross (neither FIN acknowledges the other) and both ends pass through CLOSING into TIME_WAIT.", Run: runSimultaneous},
		{Name: "rst-abort-client", Description: "RST abort by the client: SO_LINGER {on, 0}, close() after the response sends RST|ACK instead of FIN; the server's read fails with ECONNRESET.", Run: runAbort(false, false)},
		{Name: "rst-abort-server", Description: "RST abort by the server: SO_LINGER {on, 0} on the accepted socket, close() after the response sends RST; the client's read fails with ECONNRESET.", Run: runAbort(true, false)},
		{Name: "rst-abort-ipv6", Description: "IPv6 RST abort by the client with SO_LINGER {on, 0}.", Run: runAbort(false, true)},
		{Name: "rst-abort-queued", Description: "RST abort with unsent data queued: the client (MSS 536, SO_LINGER {on, 0}) writes 16 KiB and closes at once; only the initial congestion window (10 segments) was sent, the rest is discarded; the RST carries the next unsent sequence number. 20 ms one-way delay, so no ACK came back before the RST.", Run: runAbortQueued},
		{Name: "rst-unread", Description: "RST from close() with unread data (no SO_LINGER): the client sends 500 bytes, the server ACKs them, never reads them and closes: Linux sends RST instead of FIN.", Run: runUnread},
		{Name: "rst-after-close", Description: "RST after close: the client closes (FIN) after the response; the server, in CLOSE_WAIT, sends 100 more bytes; the client's socket is closed, so its kernel answers RST.", Run: runAfterClose},
		{Name: "refused", Description: "Refused: a SYN to port 9 of the server, where nothing listens, is answered by RST|ACK.", Run: runRefused},
		{Name: "lost-ack", Description: "Lost final ACK: the router drops the client's final ACK once; the server (LAST_ACK) retransmits its FIN after its RTO; the client, in TIME_WAIT, ACKs again. TCP timestamps on: the re-ACK echoes the TSval of the original FIN.", Run: runLost(lostACK, true)},
		{Name: "lost-fin", Description: "Lost FIN (the contrast to lost-ack): the router drops the server's FIN once; the server retransmits it; the client ACKs the retransmission, echoing its TSval. The client never saw the first FIN, so near the client it looks like a clean close.", Run: runLost(lostFIN, true)},
		{Name: "lost-ack-nots", Description: "Lost final ACK with TCP timestamps off (net.ipv4.tcp_timestamps=0 in the client namespace): near the server the FIN, FIN, ACK sequence cannot tell a lost ACK from a lost FIN.", Run: runLost(lostACK, false)},
		{Name: "lost-fin-nots", Description: "Lost FIN with TCP timestamps off: near the server it looks exactly like lost-ack-nots.", Run: runLost(lostFIN, false)},
		{Name: "rst-in-time-wait", Description: "RST in TIME_WAIT (RFC 1337 TIME_WAIT assassination): the router holds the client's final ACK; the server (LAST_ACK) retransmits its FIN; the client, in TIME_WAIT, re-ACKs and the router holds that too; then it releases the original ACK (the server goes CLOSED) and 50 ms later the re-ACK, which the server, with no socket for the tuple, answers with a bare RST; the RST ends the client's TIME_WAIT (net.ipv4.tcp_rfc1337=0).", Run: runRSTInTimeWait},
		{Name: "zero-window", Description: "Zero window: the server's socket has SO_RCVBUF 4096 (set on the listener before listen) and its application reads nothing for 2 s; the client writes 32 KiB, the server advertises a zero window and the client sends zero-window probes (about 0.2, 0.65 and 1.5 s later; the second gets no answer: the server rate-limits ACKs to out-of-window segments to one per 500 ms); then the server reads everything and both close, client first. Snap length 128.", Run: runZeroWindow},
		{Name: "late-duplicate", Description: "Late duplicate on a reused 5-tuple: the router holds the first transmission of the client's request (incarnation 1, which retransmits it and closes, server first); a new connection from the same client port (incarnation 2) is established; then the router releases the old segment. The server's kernel rejects it (PAWS / out of window) and answers with a duplicate ACK carrying a D-SACK block for the old range.", Run: runLateDuplicate},
		{Name: "reuse-time-wait", Description: "5-tuple reused within TIME_WAIT: the client closes first (TIME_WAIT on the client), and 1.1 s later connects again from the same port (net.ipv4.tcp_tw_reuse=1, SO_REUSEADDR); Linux starts the new ISN past the old sequence space.", Run: runReuse},
		{Name: "close-wait", Description: "Stuck half-closed: the client closes, the server ACKs and never calls close(); the capture ends 1 s later with the server in CLOSE_WAIT and the client in FIN_WAIT_2.", Run: runCloseWait},
		{Name: "fin-wait", Description: "FIN never acknowledged: the router holds the client's FIN; the capture ends 20 ms later (before the client's first FIN retransmission). Near the server nothing shows the close.", Run: runFinWait},
		{Name: "open", Description: "A flow still open when the capture ends: handshake and one request/response.", Run: runOpen},
		{Name: "midstream", Description: "A capture that starts mid-connection: the captures start after the handshake and a first exchange; a second exchange and a clean client-first close follow.", Run: runMidstream},
		{Name: "formats", Description: "Capture formats: a clean close (client port 40000) and an RST abort (client port 40001), captured as pcapng near the client, as Linux cooked SLL2 of every interface of the server namespace (like tcpdump -i any), and as the router's 802.1Q-tagged mirror of its server leg (VLAN 20, vantage middle).", Run: runFormats},
		{Name: "router-any", Description: "Every frame twice: a capture of every interface of the router namespace as Linux cooked SLL2 (like tcpdump -i any on a bridge, vantage middle; no router delay, so the copies are microseconds apart), beside the client and server captures. Client port 40000 a clean four-way close, 40001 an RST abort (SO_LINGER 0), 40002 a lost final ACK (the router drops it once: in the middle capture that ACK is seen arriving and never leaving, once). Request 100 bytes, response 200, one segment each.", Run: runRouterAny},
		{Name: "busy", Description: "A busy capture near the server, snap length 128: 320 concurrent flows of every class, each class on its own server port (8001 four-way, 8002 piggybacked, 8003 server-first, 8004 rst-abort, 8005 rst-unread, 8006 rst-after-close, 8007 refused, 8008 lost-ack, 8009 lost-fin, 8010 simultaneous, 8011 close-wait, 8012 open), 10 ms one-way delay.", Run: runBusy},
		{Name: "showcase", Description: "One flow of every class, each on its own server port, captured near the server: 8001 four-way, 8002 simultaneous, 8003 rst-abort, 8004 rst-after-close, 8005 refused, 8006 lost-ack, 8007 lost-fin, 8008 fin-retransmit (timestamps off), 8009 late-duplicate (2 incarnations), 8010 close-wait, 8011 fin-wait, 8012 open. 20 ms one-way delay.", Run: runShowcase},
	} {
		register(sc)
	}
}

func runFourWay(serverFirst, v6 bool) func(*Session) error {
	return func(s *Session) error {
		srv, cl := srv4, cli4(40000)
		if v6 {
			srv, cl = srv6, cli6(40000)
		}
		ln, err := s.Lab.Listen(ServerNode, srv, SockOpts{})
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
		closer := "client"
		if serverFirst {
			closer = "server"
			err = k.closeServerFirst()
		} else {
			err = k.closeClientFirst()
		}
		s.Expect(FlowSpec{Client: cl, Server: srv, Class: "four-way", Closer: closer})
		return err
	}
}

func runPiggyback(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := delayACKs(k.s); err != nil {
		return err
	}
	if err := k.c.Close(); err != nil {
		return err
	}
	if _, err := RecvEOF(k.s); err != nil {
		return err
	}
	if err := k.s.Close(); err != nil {
		return err
	}
	Sleep(settle)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Flags: []string{"piggybacked-fin"}, Closer: "client"})
	return nil
}

func runNoData(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Closer: "client"})
	return k.closeClientFirst()
}

func runHalfClose(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := Send(k.c, Payload(100, 0)); err != nil {
		return err
	}
	if err := k.c.CloseWrite(); err != nil {
		return fmt.Errorf("shutdown(SHUT_WR): %w", err)
	}
	if _, err := RecvEOF(k.s); err != nil {
		return err
	}
	for i := 0; i < 5; i++ {
		if err := Send(k.s, Payload(200, byte(i))); err != nil {
			return err
		}
		Sleep(20 * time.Millisecond)
	}
	if err := k.s.Close(); err != nil {
		return err
	}
	if b, err := RecvEOF(k.c); err != nil || len(b) != 1000 {
		return fmt.Errorf("client read %d bytes after its FIN, want 1000: %v", len(b), err)
	}
	if err := k.c.Close(); err != nil {
		return err
	}
	Sleep(settle)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Flags: []string{"half-close"}, Closer: "client"})
	return nil
}

func runSimultaneous(s *Session) error {
	s.Router.SetDelay(50 * time.Millisecond)
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	Sleep(pause) // every ACK delivered: the FINs are the next segments
	start := make(chan struct{})
	errs := make(chan error, 2)
	for _, c := range []*net.TCPConn{k.c, k.s} {
		go func() {
			<-start
			errs <- c.Close()
		}()
	}
	close(start)
	if err := errors.Join(<-errs, <-errs); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	Sleep(pause)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "simultaneous", Closer: "both"})
	return nil
}

func runAbort(byServer, v6 bool) func(*Session) error {
	return func(s *Session) error {
		srv, cl := srv4, cli4(40000)
		if v6 {
			srv, cl = srv6, cli6(40000)
		}
		ln, err := s.Lab.Listen(ServerNode, srv, SockOpts{})
		if err != nil {
			return err
		}
		defer ln.Close()
		if err := s.StartCaptures(BothSides...); err != nil {
			return err
		}
		k, err := s.connect(ln, cl, SockOpts{Linger0: !byServer})
		if err != nil {
			return err
		}
		if err := k.exchange(100, 2000); err != nil {
			return err
		}
		Sleep(pause)
		closer, victim, aborter := "client", k.s, k.c
		if byServer {
			closer, victim, aborter = "server", k.c, k.s
			if err := k.s.SetLinger(0); err != nil {
				return fmt.Errorf("SO_LINGER: %w", err)
			}
		}
		if err := aborter.Close(); err != nil {
			return err
		}
		if err := RecvReset(victim); err != nil {
			return err
		}
		victim.Close()
		Sleep(settle)
		s.Expect(FlowSpec{Client: cl, Server: srv, Class: "rst-abort", Closer: closer})
		return nil
	}
}

func runAbortQueued(s *Session) error {
	s.Router.SetDelay(20 * time.Millisecond)
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{Linger0: true, MaxSeg: 536})
	if err != nil {
		return err
	}
	Sleep(pause)
	if err := Send(k.c, Payload(16384, 0)); err != nil {
		return err
	}
	if err := k.c.Close(); err != nil {
		return err
	}
	if err := RecvReset(k.s); err != nil {
		return err
	}
	k.s.Close()
	Sleep(pause)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "rst-abort", Closer: "client",
		Note: "16384 bytes written, 10 segments of 524 bytes (5240) on the wire before the RST; the peer's ACKs of them, arriving after it, are each answered by a bare RST"})
	return nil
}

func runUnread(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := Send(k.c, Payload(500, 0)); err != nil {
		return err
	}
	Sleep(pause) // delivered and ACKed, never read
	if err := k.s.Close(); err != nil {
		return err
	}
	if err := RecvReset(k.c); err != nil {
		return err
	}
	k.c.Close()
	Sleep(settle)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "rst-abort", Closer: "server",
		Note: "close() with 500 unread bytes in the receive buffer, no SO_LINGER"})
	return nil
}

func runAfterClose(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := afterClose(k); err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "rst-after-close", Flags: []string{"half-close"}, Closer: "client",
		Note: "the server's data after the client's FIN is what the client's closed socket resets"})
	return nil
}

func afterClose(k *conn) error {
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := k.c.Close(); err != nil {
		return err
	}
	if _, err := RecvEOF(k.s); err != nil {
		return err
	}
	Sleep(pause)
	if err := Send(k.s, Payload(100, 2)); err != nil {
		return err
	}
	Sleep(pause)
	k.s.Close()
	Sleep(settle)
	return nil
}

func runRefused(s *Session) error {
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	dst := netip.AddrPortFrom(ServerV4, 9)
	if err := refuse(s, cli4(40000), dst); err != nil {
		return err
	}
	Sleep(settle)
	s.Expect(FlowSpec{Client: cli4(40000), Server: dst, Class: "refused", Closer: "none"})
	return nil
}

func refuse(s *Session, local, dst netip.AddrPort) error {
	c, err := s.Lab.Dial(ClientNode, local, dst, SockOpts{})
	if err == nil {
		c.Close()
		return fmt.Errorf("connect to %s succeeded, want refused", dst)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("want connection refused: %w", err)
	}
	return nil
}

type lostKind uint8

const (
	lostACK lostKind = iota
	lostFIN
)

// loseRule returns the router rule for a lost-ack or lost-fin flow.
func loseRule(kind lostKind, name string, tuple Matcher) Rule {
	if kind == lostACK {
		return Rule{Name: name, Dir: ClientToServer, Match: All(tuple, FinalACK(ClientToServer)), Action: Drop}
	}
	return Rule{Name: name, Dir: ServerToClient, Match: All(tuple, HasFlags(TCPFin)), Action: Drop}
}

// lostSpec is the verdict of a lost-ack/lost-fin flow where the client
// closes first and the server's FIN or the client's final ACK is lost.
func lostSpec(kind lostKind, ts bool, client, server netip.AddrPort) FlowSpec {
	f := FlowSpec{Client: client, Server: server, Closer: "client", Flags: []string{"fin-retransmit"}}
	if kind == lostACK {
		f.Class = "lost-ack"
		if !ts {
			f.Views = map[string]View{"server": {Class: "fin-retransmit", Flags: []string{"fin-retransmit"},
				Note: "no TCP timestamps: near the server FIN, FIN, ACK looks the same whether the FIN or the ACK was lost"}}
		}
		return f
	}
	f.Class = "lost-fin"
	serverView := View{Class: "lost-fin", Flags: []string{"fin-retransmit"}}
	if !ts {
		serverView = View{Class: "fin-retransmit", Flags: []string{"fin-retransmit"},
			Note: "no TCP timestamps: near the server FIN, FIN, ACK looks the same whether the FIN or the ACK was lost"}
	}
	f.Views = map[string]View{
		"client": {Class: "four-way", Flags: nil, Note: "the server's first FIN was lost between router and client: the client saw one FIN, a clean close"},
		"server": serverView,
	}
	return f
}

func runLost(kind lostKind, ts bool) func(*Session) error {
	return func(s *Session) error {
		if !ts {
			if err := s.Lab.Sysctl(ClientNode, "net/ipv4/tcp_timestamps", "0"); err != nil {
				return err
			}
		}
		if err := s.Router.AddRule(loseRule(kind, "lose", Tuple(cli4(40000), srv4))); err != nil {
			return err
		}
		ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
		if err != nil {
			return err
		}
		defer ln.Close()
		if err := s.StartCaptures(BothSides...); err != nil {
			return err
		}
		k, err := s.connect(ln, cli4(40000), SockOpts{})
		if err != nil {
			return err
		}
		if err := k.exchange(100, 2000); err != nil {
			return err
		}
		if err := k.closeClientFirst(); err != nil {
			return err
		}
		if _, err := s.Router.Fired("lose", time.Second); err != nil {
			return err
		}
		Sleep(time.Second) // the FIN's RTO (200 ms and more) and the re-ACK
		s.Expect(lostSpec(kind, ts, cli4(40000), srv4))
		return nil
	}
}

// lateDuplicate runs two incarnations of client -> server; the router holds
// the first data segment of incarnation 1 and releases it once
// incarnation 2 is established. Incarnation 1 is closed by the server.
func lateDuplicate(s *Session, ln *net.TCPListener, client, server netip.AddrPort, rule string) (*Packet, error) {
	if err := s.Router.AddRule(Rule{Name: rule, Dir: ClientToServer,
		Match: Nth(1, All(Tuple(client, server), Data())), Action: Hold}); err != nil {
		return nil, err
	}
	k, err := s.connect(ln, client, SockOpts{ReuseAddr: true})
	if err != nil {
		return nil, err
	}
	if err := k.exchange(300, 500); err != nil { // the request gets through as a retransmission
		return nil, err
	}
	held, err := s.Router.Fired(rule, time.Second)
	if err != nil {
		return nil, err
	}
	if err := k.closeServerFirst(); err != nil {
		return nil, err
	}
	Sleep(pause) // the client's LAST_ACK must be over, or connect() fails with EADDRNOTAVAIL
	k2, err := s.connect(ln, client, SockOpts{ReuseAddr: true})
	if err != nil {
		return nil, fmt.Errorf("incarnation 2: %w", err)
	}
	if err := k2.exchange(100, 200); err != nil {
		return nil, err
	}
	if n := s.Router.Release(rule); n != 1 {
		return nil, fmt.Errorf("released %d frames, want 1", n)
	}
	Sleep(pause)
	if err := k2.exchange(100, 200); err != nil { // the new incarnation survived
		return nil, err
	}
	return &held, k2.closeClientFirst()
}

func runLateDuplicate(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	held, err := lateDuplicate(s, ln, cli4(40000), srv4, "old")
	if err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Incarnation: 1, Class: "four-way", Flags: []string{"old-segment"}, Closer: "server",
		Note: "its first data segment was held by the router and arrives during incarnation 2"})
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Incarnation: 2, Class: "late-duplicate", Flags: []string{"reuse-in-time-wait"}, Closer: "client", Late: held,
		Note: "the SYN reached the server while incarnation 1 was in TIME_WAIT there"})
	return nil
}

func runReuse(s *Session) error {
	if err := s.Lab.Sysctl(ClientNode, "net/ipv4/tcp_tw_reuse", "1"); err != nil {
		return err
	}
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{ReuseAddr: true})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 200); err != nil {
		return err
	}
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	Sleep(1100 * time.Millisecond) // tcp_tw_reuse wants the TIME_WAIT socket over 1 s old
	k2, err := s.connect(ln, cli4(40000), SockOpts{ReuseAddr: true})
	if err != nil {
		return fmt.Errorf("incarnation 2: %w", err)
	}
	if err := k2.exchange(100, 200); err != nil {
		return err
	}
	if err := k2.closeClientFirst(); err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Incarnation: 1, Class: "four-way", Closer: "client"})
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Incarnation: 2, Class: "four-way", Flags: []string{"reuse-in-time-wait"}, Closer: "client",
		Note: "the client's TIME_WAIT of incarnation 1 was reused after 1.1 s"})
	return nil
}

func runCloseWait(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	s.AfterCapture(func() { k.s.Close() })
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := k.c.Close(); err != nil {
		return err
	}
	if _, err := RecvEOF(k.s); err != nil {
		return err
	}
	Sleep(time.Second)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "close-wait", Closer: "client",
		Note: "the server never calls close(): CLOSE_WAIT for the last second of the capture"})
	return nil
}

func runFinWait(s *Session) error {
	if err := s.Router.AddRule(Rule{Name: "fin", Dir: ClientToServer, Match: HasFlags(TCPFin), Action: Hold, Times: -1}); err != nil {
		return err
	}
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	s.AfterCapture(func() { k.s.Close() })
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.c.Close(); err != nil {
		return err
	}
	// Stop well before the first retransmission of the FIN (RTO at least
	// 200 ms), even on a loaded machine.
	Sleep(20 * time.Millisecond)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "fin-wait", Closer: "client",
		Views: map[string]View{"server": {Class: "open", Closer: "none", Note: "the client's FIN never reached the server"}}})
	return nil
}

func runOpen(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	s.AfterCapture(func() { k.c.Close(); k.s.Close() })
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	Sleep(pause)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "open", Closer: "none"})
	return nil
}

func runMidstream(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	Sleep(pause)
	if err := s.StartCaptures(BothSides...); err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Flags: []string{"no-handshake"}, Closer: "client"})
	return nil
}

func runFormats(s *Session) error {
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(
		CapSpec{Vantage: "client", Suffix: ".client.pcapng", Format: PcapNGEthernet},
		CapSpec{Vantage: "server", Suffix: ".server-any-sll2.pcap", Format: PcapSLL2},
		CapSpec{Vantage: "middle", Suffix: ".middle-vlan.pcap", Format: PcapVLAN},
	); err != nil {
		return err
	}
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := k.exchange(100, 2000); err != nil {
		return err
	}
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	k2, err := s.connect(ln, cli4(40001), SockOpts{Linger0: true})
	if err != nil {
		return err
	}
	if err := k2.exchange(100, 2000); err != nil {
		return err
	}
	if err := k2.c.Close(); err != nil {
		return err
	}
	if err := RecvReset(k2.s); err != nil {
		return err
	}
	k2.s.Close()
	Sleep(settle)
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Closer: "client"})
	s.Expect(FlowSpec{Client: cli4(40001), Server: srv4, Class: "rst-abort", Closer: "client"})
	return nil
}
