//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// acceptor hands the connections of one listener to the flows that dialed
// them, matched by the client's address, so many flows can share a port.
type acceptor struct {
	ln      *net.TCPListener
	mu      sync.Mutex
	waiting map[netip.AddrPort]chan *net.TCPConn
}

func newAcceptor(ln *net.TCPListener) *acceptor {
	a := &acceptor{ln: ln, waiting: map[netip.AddrPort]chan *net.TCPConn{}}
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return // listener closed
			}
			a.slot(c.RemoteAddr().(*net.TCPAddr).AddrPort()) <- c
		}
	}()
	return a
}

func (a *acceptor) slot(k netip.AddrPort) chan *net.TCPConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.waiting[k]
	if !ok {
		ch = make(chan *net.TCPConn, 1)
		a.waiting[k] = ch
	}
	return ch
}

// connect dials the acceptor's port from local and returns both ends.
func (a *acceptor) connect(s *Session, local netip.AddrPort, co SockOpts) (*conn, error) {
	remote := a.ln.Addr().(*net.TCPAddr).AddrPort()
	c, err := s.Lab.Dial(ClientNode, local, remote, co)
	if err != nil {
		return nil, err
	}
	ch := a.slot(local)
	select {
	case sv := <-ch:
		a.mu.Lock()
		delete(a.waiting, local)
		a.mu.Unlock()
		return &conn{c, sv}, nil
	case <-time.After(IOTimeout):
		c.Close()
		return nil, fmt.Errorf("no accept for %s within %v", local, IOTimeout)
	}
}

// flowKind is one class of flow the mixed captures (busy, showcase) make.
type flowKind struct {
	name   string
	listen bool // the server port has a listener
	// setup runs before any traffic (router rules).
	setup func(s *Session, cl, srv netip.AddrPort) error
	run   func(s *Session, a *acceptor, cl, srv netip.AddrPort) error
	spec  func(cl, srv netip.AddrPort) []FlowSpec
}

func one(f FlowSpec) []FlowSpec { return []FlowSpec{f} }

var (
	kFourWay = flowKind{name: "four-way", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			return k.closeClientFirst()
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "four-way", Closer: "client"})
		}}
	kPiggyback = flowKind{name: "piggyback", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
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
			Sleep(pause)
			return nil
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "four-way", Flags: []string{"piggybacked-fin"}, Closer: "client"})
		}}
	kServerFirst = flowKind{name: "server-first", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			return k.closeServerFirst()
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "four-way", Closer: "server"})
		}}
	kAbort = flowKind{name: "rst-abort", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{Linger0: true})
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			Sleep(pause)
			if err := k.c.Close(); err != nil {
				return err
			}
			if err := RecvReset(k.s); err != nil {
				return err
			}
			return k.s.Close()
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "rst-abort", Closer: "client", Note: "SO_LINGER {on, 0}"})
		}}
	kUnread = flowKind{name: "rst-unread", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			if err := Send(k.c, Payload(200, 0)); err != nil {
				return err
			}
			Sleep(pause)
			if err := k.s.Close(); err != nil {
				return err
			}
			if err := RecvReset(k.c); err != nil {
				return err
			}
			return k.c.Close()
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "rst-abort", Closer: "server", Note: "close() with unread data"})
		}}
	kAfterClose = flowKind{name: "rst-after-close", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			return afterClose(k)
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "rst-after-close", Flags: []string{"half-close"}, Closer: "client"})
		}}
	kRefused = flowKind{name: "refused",
		run: func(s *Session, _ *acceptor, cl, srv netip.AddrPort) error {
			return refuse(s, cl, srv)
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "refused", Closer: "none"})
		}}
	kSimultaneous = flowKind{name: "simultaneous", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			Sleep(pause)
			start := make(chan struct{})
			errs := make(chan error, 2)
			for _, c := range []*net.TCPConn{k.c, k.s} {
				go func() {
					<-start
					errs <- c.Close()
				}()
			}
			close(start)
			err = errors.Join(<-errs, <-errs)
			Sleep(pause)
			return err
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "simultaneous", Closer: "both"})
		}}
	kCloseWait = flowKind{name: "close-wait", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			s.AfterCapture(func() { k.s.Close() })
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			if err := k.c.Close(); err != nil {
				return err
			}
			_, err = RecvEOF(k.s)
			return err
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "close-wait", Closer: "client", Note: "the server never calls close()"})
		}}
	kOpen = flowKind{name: "open", listen: true,
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			k, err := a.connect(s, cl, SockOpts{})
			if err != nil {
				return err
			}
			s.AfterCapture(func() { k.c.Close(); k.s.Close() })
			return k.exchange(100, 300)
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec {
			return one(FlowSpec{Client: cl, Server: srv, Class: "open", Closer: "none"})
		}}
)

// kLost makes a lost-ack or lost-fin flow; ts false turns TCP timestamps
// off in the client namespace for its SYN (flows of this kind must then
// not run concurrently with others).
func kLost(kind lostKind, ts bool) flowKind {
	name := map[lostKind]string{lostACK: "lost-ack", lostFIN: "lost-fin"}[kind]
	if !ts {
		name = "fin-retransmit"
	}
	return flowKind{name: name, listen: true,
		setup: func(s *Session, cl, srv netip.AddrPort) error {
			return s.Router.AddRule(loseRule(kind, "lose-"+cl.String(), Tuple(cl, srv)))
		},
		run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
			if !ts {
				if err := s.Lab.Sysctl(ClientNode, "net/ipv4/tcp_timestamps", "0"); err != nil {
					return err
				}
			}
			k, err := a.connect(s, cl, SockOpts{})
			if !ts {
				if err := s.Lab.Sysctl(ClientNode, "net/ipv4/tcp_timestamps", "1"); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			if err := k.exchange(100, 300); err != nil {
				return err
			}
			if err := k.closeClientFirst(); err != nil {
				return err
			}
			if _, err := s.Router.Fired("lose-"+cl.String(), time.Second); err != nil {
				return err
			}
			Sleep(time.Second)
			return nil
		},
		spec: func(cl, srv netip.AddrPort) []FlowSpec { return one(lostSpec(kind, ts, cl, srv)) }}
}

// kFinWait: the server closes first and the router holds every later
// segment of the client, so near the server the FIN is never acknowledged.
var kFinWait = flowKind{name: "fin-wait", listen: true,
	setup: func(s *Session, cl, srv netip.AddrPort) error {
		finSeen := false
		return s.Router.AddRule(Rule{Name: "finwait-" + cl.String(), Dir: ClientToServer, Action: Hold, Times: -1,
			Match: All(Tuple(cl, srv), func(d Dir, p *Packet) bool {
				if d == ServerToClient && p.Flags&TCPFin != 0 {
					finSeen = true
				}
				return finSeen
			})})
	},
	run: func(s *Session, a *acceptor, cl, _ netip.AddrPort) error {
		k, err := a.connect(s, cl, SockOpts{})
		if err != nil {
			return err
		}
		s.AfterCapture(func() { k.c.Close() })
		if err := k.exchange(100, 300); err != nil {
			return err
		}
		Sleep(pause)
		return k.s.Close()
	},
	spec: func(cl, srv netip.AddrPort) []FlowSpec {
		return one(FlowSpec{Client: cl, Server: srv, Class: "fin-wait", Closer: "server",
			Note: "the router holds the client's ACK of the server's FIN; the capture ends before the FIN's retransmission"})
	}}

// runKinds runs flows of the given kinds: each entry's flows start in the
// listed order, start apart, each on its own client port, sharing one
// listener per server port.
type batch struct {
	kind  flowKind
	port  uint16 // server port
	count int
}

func runBatches(s *Session, batches []batch, firstClientPort uint16, startGap time.Duration, concurrent bool) error {
	acceptors := map[uint16]*acceptor{}
	for _, b := range batches {
		if !b.kind.listen || acceptors[b.port] != nil {
			continue
		}
		ln, err := s.Lab.Listen(ServerNode, netip.AddrPortFrom(ServerV4, b.port), SockOpts{})
		if err != nil {
			return err
		}
		s.AfterCapture(func() { ln.Close() })
		acceptors[b.port] = newAcceptor(ln)
	}
	type job struct {
		k       flowKind
		a       *acceptor
		cl, srv netip.AddrPort
	}
	var jobs []job
	port := firstClientPort
	for _, b := range batches {
		for i := 0; i < b.count; i++ {
			j := job{b.kind, acceptors[b.port], cli4(port), netip.AddrPortFrom(ServerV4, b.port)}
			port++
			if j.k.setup != nil {
				if err := j.k.setup(s, j.cl, j.srv); err != nil {
					return err
				}
			}
			jobs = append(jobs, j)
		}
	}
	// Interleave the kinds so every moment of the capture mixes classes.
	if concurrent {
		var mixed []job
		byKind := map[string][]job{}
		var order []string
		for _, j := range jobs {
			if byKind[j.k.name] == nil {
				order = append(order, j.k.name)
			}
			byKind[j.k.name] = append(byKind[j.k.name], j)
		}
		for len(mixed) < len(jobs) {
			for _, n := range order {
				if len(byKind[n]) > 0 {
					mixed = append(mixed, byKind[n][0])
					byKind[n] = byKind[n][1:]
				}
			}
		}
		jobs = mixed
	}
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for _, j := range jobs {
		for _, f := range j.k.spec(j.cl, j.srv) {
			s.Expect(f)
		}
		if !concurrent {
			if err := j.k.run(s, j.a, j.cl, j.srv); err != nil {
				return fmt.Errorf("%s flow %s: %w", j.k.name, j.cl, err)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.k.run(s, j.a, j.cl, j.srv); err != nil {
				errs <- fmt.Errorf("%s flow %s: %w", j.k.name, j.cl, err)
			}
		}()
		Sleep(startGap)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return errors.New("flows did not finish within 30 s")
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func runBusy(s *Session) error {
	s.Router.SetDelay(10 * time.Millisecond)
	if err := s.StartCaptures(CapSpec{Vantage: "server", Suffix: ".server.pcap", Format: PcapEthernet, Snaplen: 128}); err != nil {
		return err
	}
	return runBatches(s, []batch{
		{kFourWay, 8001, 60},
		{kPiggyback, 8002, 30},
		{kServerFirst, 8003, 40},
		{kAbort, 8004, 30},
		{kUnread, 8005, 20},
		{kAfterClose, 8006, 20},
		{kRefused, 8007, 30},
		{kLost(lostACK, true), 8008, 10},
		{kLost(lostFIN, true), 8009, 10},
		{kSimultaneous, 8010, 20},
		{kCloseWait, 8011, 25},
		{kOpen, 8012, 25},
	}, 41000, 3*time.Millisecond, true)
}

func runShowcase(s *Session) error {
	s.Router.SetDelay(20 * time.Millisecond)
	if err := s.StartCaptures(CapSpec{Vantage: "server", Suffix: ".pcap", Format: PcapEthernet}); err != nil {
		return err
	}
	if err := runBatches(s, []batch{
		{kFourWay, 8001, 1},
		{kSimultaneous, 8002, 1},
		{kAbort, 8003, 1},
		{kAfterClose, 8004, 1},
		{kRefused, 8005, 1},
		{kLost(lostACK, true), 8006, 1},
		{kLost(lostFIN, true), 8007, 1},
		{kLost(lostACK, false), 8008, 1},
	}, 40001, 0, false); err != nil {
		return err
	}
	// Late duplicate: two incarnations of 40009 -> 8009.
	srv := netip.AddrPortFrom(ServerV4, 8009)
	ln, err := s.Lab.Listen(ServerNode, srv, SockOpts{})
	if err != nil {
		return err
	}
	s.AfterCapture(func() { ln.Close() })
	held, err := lateDuplicate(s, ln, cli4(40009), srv, "old")
	if err != nil {
		return err
	}
	s.Expect(FlowSpec{Client: cli4(40009), Server: srv, Incarnation: 1, Class: "four-way", Flags: []string{"old-segment"}, Closer: "server"})
	s.Expect(FlowSpec{Client: cli4(40009), Server: srv, Incarnation: 2, Class: "late-duplicate", Flags: []string{"reuse-in-time-wait"}, Closer: "client", Late: held})
	// The stuck ones, last, so they are stuck when the capture ends.
	return runBatches(s, []batch{
		{kCloseWait, 8010, 1},
		{kOpen, 8012, 1},
		{kFinWait, 8011, 1},
	}, 40010, 0, false)
}
