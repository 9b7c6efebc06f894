//go:build linux

package netlab

import "time"

// runRouterAny: three flows one after the other, captured at both ends and
// on every interface of the router. Each exchange is one segment each way
// and every step waits for the last, so no sender has two segments in the
// router at once: the two copies of a frame are adjacent among its
// sender's frames, as teardown's copy rule needs (it compares a segment
// with the previous one from the same side only).
func runRouterAny(s *Session) error {
	s.Router.SetDelay(0)
	lost := cli4(40002)
	if err := s.Router.AddRule(loseRule(lostACK, "lose", Tuple(lost, srv4))); err != nil {
		return err
	}
	ln, err := s.Lab.Listen(ServerNode, srv4, SockOpts{})
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := s.StartCaptures(BothSides[0], BothSides[1], RouterAny); err != nil {
		return err
	}
	// 40000: clean close, client first.
	k, err := s.connect(ln, cli4(40000), SockOpts{})
	if err != nil {
		return err
	}
	if err := exchangeApart(k); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	Sleep(pause)
	// 40001: RST abort by the client.
	k, err = s.connect(ln, cli4(40001), SockOpts{Linger0: true})
	if err != nil {
		return err
	}
	if err := exchangeApart(k); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.c.Close(); err != nil {
		return err
	}
	if err := RecvReset(k.s); err != nil {
		return err
	}
	k.s.Close()
	Sleep(pause)
	// 40002: the client's final ACK is lost after the router received it.
	k, err = s.connect(ln, lost, SockOpts{})
	if err != nil {
		return err
	}
	if err := exchangeApart(k); err != nil {
		return err
	}
	Sleep(pause)
	if err := k.closeClientFirst(); err != nil {
		return err
	}
	if _, err := s.Router.Fired("lose", time.Second); err != nil {
		return err
	}
	Sleep(time.Second) // the FIN's RTO and the re-ACK
	s.Expect(FlowSpec{Client: cli4(40000), Server: srv4, Class: "four-way", Closer: "client"})
	s.Expect(FlowSpec{Client: cli4(40001), Server: srv4, Class: "rst-abort", Closer: "client"})
	f := lostSpec(lostACK, true, lost, srv4)
	f.Views = map[string]View{"middle": {Class: "lost-ack", Flags: []string{"fin-retransmit"},
		Note: "the router received the final ACK (frame once, arriving on rc) and dropped it: the middle capture sees what the client sent"}}
	s.Expect(f)
	return nil
}

// exchangeApart sends a 100-byte request and, once the server has
// acknowledged it on its own, a 200-byte response: the server never sends
// its ACK and its data back to back.
func exchangeApart(k *conn) error {
	if err := k.exchange(100, 0); err != nil {
		return err
	}
	Sleep(settle)
	return k.exchange(0, 200)
}
