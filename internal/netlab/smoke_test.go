package netlab

import (
	"net/netip"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	l, err := NewLab()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.StartRouter(0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cc, err := l.StartCapture(ClientNode, EndpointIf, dir+"/c.pcap", PcapEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := l.StartCapture(ServerNode, EndpointIf, dir+"/s.pcap", PcapSLL2, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.AddrPortFrom(ServerV4, 8080)
	ln, err := l.Listen(ServerNode, srv, SockOpts{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := Accept(ln)
		if err != nil {
			done <- err
			return
		}
		b, err := RecvEOF(c)
		t.Logf("server got %d", len(b))
		time.Sleep(100 * time.Millisecond)
		done <- c.Close()
	}()
	c, err := l.Dial(ClientNode, netip.AddrPortFrom(ClientV4, 40000), srv, SockOpts{})
	if err != nil {
		t.Fatal(err)
	}
	Send(c, Payload(3000, 0))
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cc.Stop()
	sc.Stop()
	r.Stop()
	for _, f := range []string{"c.pcap", "s.pcap"} {
		ps, err := ReadCapture(dir + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			t.Log(f, p.String())
		}
	}
}
