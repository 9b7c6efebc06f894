//go:build linux

package netlab

import (
	"net/netip"
	"testing"
)

var (
	tc = netip.MustParseAddrPort("198.18.0.1:40000")
	ts = netip.MustParseAddrPort("198.18.0.2:8080")
)

func pkt(from netip.AddrPort, flags uint8, seq, ack, n uint32) Packet {
	to := ts
	if from == ts {
		to = tc
	}
	return Packet{Src: from, Dst: to, Flags: flags, Seq: seq, Ack: ack, Len: n}
}

func dirOf(p Packet) Dir {
	if p.Src == tc {
		return ClientToServer
	}
	return ServerToClient
}

// A clean client-first close: FIN, ACK, FIN, final ACK.
var closeSeq = []Packet{
	pkt(tc, TCPAck, 100, 500, 0),        // ACK of data (pure ACK, no FIN yet)
	pkt(tc, TCPFin|TCPAck, 100, 500, 0), // client FIN
	pkt(ts, TCPAck, 500, 101, 0),        // server ACK
	pkt(ts, TCPFin|TCPAck, 500, 101, 0), // server FIN
	pkt(tc, TCPAck, 101, 501, 0),        // final ACK
	pkt(tc, TCPAck, 101, 501, 0),        // re-ACK (after a retransmitted FIN)
}

func TestFinalACK(t *testing.T) {
	m := FinalACK(ClientToServer)
	var got []int
	for i, p := range closeSeq {
		if m(dirOf(p), &p) {
			got = append(got, i)
		}
	}
	if len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("FinalACK matched %v, want [4 5]", got)
	}
	// The server's ACK of the client FIN is not a final ACK in either direction.
	m2 := FinalACK(ServerToClient)
	for i, p := range closeSeq {
		if m2(dirOf(p), &p) {
			t.Errorf("FinalACK(s2c) matched packet %d", i)
		}
	}
}

func TestRuleSetDropOnce(t *testing.T) {
	var rs ruleSet
	if err := rs.add(Rule{Name: "lose", Dir: ClientToServer, Match: FinalACK(ClientToServer), Action: Drop}); err != nil {
		t.Fatal(err)
	}
	var acts []Action
	for _, p := range closeSeq {
		a, _ := rs.decide(dirOf(p), &p)
		acts = append(acts, a)
	}
	want := []Action{Forward, Forward, Forward, Forward, Drop, Forward}
	for i := range want {
		if acts[i] != want[i] {
			t.Fatalf("actions %v, want %v", acts, want)
		}
	}
	if got := rs.find("lose").matched; len(got) != 1 || got[0].Ack != 501 {
		t.Errorf("matched %v", got)
	}
	select {
	case <-rs.find("lose").firstCh:
	default:
		t.Error("firstCh not closed after the rule fired")
	}
}

func TestRuleSetTimesAndDir(t *testing.T) {
	var rs ruleSet
	if err := rs.add(Rule{Name: "fins", Dir: ServerToClient, Match: HasFlags(TCPFin), Action: Hold, Times: -1}); err != nil {
		t.Fatal(err)
	}
	if err := rs.add(Rule{Name: "fins", Action: Drop}); err == nil {
		t.Error("duplicate rule name accepted")
	}
	if err := rs.add(Rule{Name: "fwd", Action: Forward}); err == nil {
		t.Error("forward rule accepted")
	}
	n := 0
	for i := 0; i < 3; i++ {
		for _, p := range closeSeq {
			if a, by := rs.decide(dirOf(p), &p); a == Hold {
				n++
				if by.Name != "fins" || p.Src != ts {
					t.Errorf("held %v by %s", p, by.Name)
				}
			}
		}
	}
	if n != 3 {
		t.Errorf("held %d server FINs, want 3 (Times -1)", n)
	}
}

func TestNthAndTuple(t *testing.T) {
	other := netip.MustParseAddrPort("198.18.0.1:40001")
	m := Nth(2, All(Tuple(tc, ts), Data()))
	ps := []Packet{
		pkt(tc, TCPAck|TCPPsh, 1, 1, 10),
		{Src: other, Dst: ts, Flags: TCPAck, Len: 10},
		pkt(ts, TCPAck, 1, 11, 0),
		pkt(ts, TCPAck|TCPPsh, 1, 11, 20),
		pkt(tc, TCPAck|TCPPsh, 11, 21, 10),
	}
	var got []int
	for i, p := range ps {
		if m(dirOf(p), &p) {
			got = append(got, i)
		}
	}
	if len(got) != 1 || got[0] != 3 {
		t.Errorf("Nth(2) matched %v, want [3]", got)
	}
}

func TestPacketHelpers(t *testing.T) {
	p := pkt(tc, TCPSyn, 10, 0, 0)
	if p.End() != 11 {
		t.Errorf("SYN End = %d", p.End())
	}
	p = pkt(tc, TCPFin|TCPAck, 10, 0, 5)
	if p.End() != 16 || p.PureACK() {
		t.Errorf("FIN End = %d, PureACK %v", p.End(), p.PureACK())
	}
	if s := FlagString(TCPFin | TCPAck); s != "F." {
		t.Errorf("FlagString = %q", s)
	}
}

func TestDecodeFrameVLANAndSLL2(t *testing.T) {
	tcp := []byte{
		0x9c, 0x40, 0x1f, 0x90, // ports 40000 -> 8080
		0, 0, 0, 100, 0, 0, 0, 200, // seq, ack
		0x80, 0x11, 0xff, 0xff, 0, 0, 0, 0, // doff 8, FIN|ACK
		1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // NOP NOP TS 7 9
	}
	ip4 := []byte{0x45, 0, 0, byte(20 + len(tcp)), 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	eth := append([]byte{2, 0, 0x5e, 0, 0, 2, 2, 0, 0x5e, 0, 0, 1, 0x81, 0x00, 0, 20, 0x08, 0x00}, append(ip4, tcp...)...)
	p, err := DecodeFrame(LinkEthernet, eth)
	if err != nil {
		t.Fatal(err)
	}
	if p.VLAN != 20 || p.Src != tc || p.Dst != ts || p.Flags != TCPFin|TCPAck || p.Seq != 100 || p.Ack != 200 ||
		!p.HasTS || p.TSval != 7 || p.TSecr != 9 || p.Len != 0 || p.TTL != 64 {
		t.Errorf("decoded %+v", p)
	}
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0}, append(ip4, tcp...)...)
	q, err := DecodeFrame(LinkSLL2, sll2)
	if err != nil {
		t.Fatal(err)
	}
	if q.Src != tc || q.Seq != 100 || q.VLAN != -1 {
		t.Errorf("decoded SLL2 %+v", q)
	}
	if _, err := DecodeFrame(LinkEthernet, eth[:30]); err == nil {
		t.Error("truncated frame decoded")
	}
}
