//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Scenario is one recipe: it builds traffic between real kernels, and
// declares the flows it made and the verdict each must get.
type Scenario struct {
	Name        string
	Description string
	Run         func(s *Session) error
}

// View overrides a flow's expected verdict at one vantage point, where the
// capture shows less than what happened (a FIN lost before the capture
// point is never seen there).
type View struct {
	Class  string
	Flags  []string
	Closer string // "" keeps the flow's
	Note   string
}

// FlowSpec is a flow incarnation a scenario made, with its verdict.
type FlowSpec struct {
	Client, Server netip.AddrPort
	Incarnation    int
	Class          string
	Flags          []string
	Closer         string          // "client", "server", "both", "none"
	Views          map[string]View // per vantage ("client", "server", "middle") overrides
	Note           string
	// Late is, for a flow that received a segment of an earlier
	// incarnation, that segment as the router held it.
	Late *Packet
	// Verify, when set, checks scenario-specific facts in each capture
	// (after the generic check): the frame order the scenario built.
	Verify func(ip *incPackets, vantage string) error
}

// CapSpec is one capture a scenario takes. Vantage "middle" with PcapSLL2
// is every interface of the router namespace (RouterAny): each frame the
// router forwards is in it twice.
type CapSpec struct {
	Vantage string // "client", "server", "middle"
	Suffix  string // appended to the scenario name: ".client.pcap"
	Format  Format
	Snaplen int
}

// Session is the running state of one scenario: its topology, router and
// captures, and the flows it declared.
type Session struct {
	Lab    *Lab
	Router *Router
	Name   string
	Out    string
	Log    func(format string, args ...any)

	caps     []*Capture
	specs    []CapSpec
	mirror   *Capture
	flows    []*FlowSpec
	captured bool
	atEnd    []func()
}

// AfterCapture registers f to run once the captures have stopped: closing
// sockets that must stay open (CLOSE_WAIT, open flows) until the end.
func (s *Session) AfterCapture(f func()) { s.atEnd = append(s.atEnd, f) }

// BothSides is the usual pair of captures: the client's and the server's interface.
var BothSides = []CapSpec{
	{Vantage: "client", Suffix: ".client.pcap", Format: PcapEthernet},
	{Vantage: "server", Suffix: ".server.pcap", Format: PcapEthernet},
}

// RouterAny is the capture of every interface of the router namespace, as
// Linux cooked SLL2 (`tcpdump -i any` on a bridge): every frame the router
// forwards twice, arriving on one leg and leaving on the other.
var RouterAny = CapSpec{Vantage: "middle", Suffix: ".middle-sll2.pcap", Format: PcapSLL2}

// StartCaptures starts the captures. Call it once, before or during the
// traffic (a late start makes a capture that begins mid-connection).
func (s *Session) StartCaptures(specs ...CapSpec) error {
	for _, sp := range specs {
		path := filepath.Join(s.Out, s.Name+sp.Suffix)
		var c *Capture
		var err error
		switch {
		case sp.Format == PcapVLAN:
			c, err = s.Lab.StartMirror(path, sp.Snaplen)
			if err == nil {
				s.Router.SetMirror(c)
				s.mirror = c
			}
		case sp.Vantage == "middle" && sp.Format == PcapSLL2:
			c, err = s.Lab.StartCapture(RouterNode, "", path, sp.Format, sp.Snaplen)
		case sp.Vantage == "client":
			c, err = s.Lab.StartCapture(ClientNode, EndpointIf, path, sp.Format, sp.Snaplen)
		default:
			c, err = s.Lab.StartCapture(ServerNode, EndpointIf, path, sp.Format, sp.Snaplen)
		}
		if err != nil {
			return err
		}
		s.caps = append(s.caps, c)
		s.specs = append(s.specs, sp)
	}
	s.captured = true
	return nil
}

// Expect declares a flow incarnation and its verdict.
func (s *Session) Expect(f FlowSpec) *FlowSpec {
	if f.Incarnation == 0 {
		f.Incarnation = 1
	}
	s.flows = append(s.flows, &f)
	return &f
}

// Scenario-wide timing constants; every wait in a scenario is one of these
// or derived from them.
const (
	settle = 50 * time.Millisecond  // let in-flight frames land
	pause  = 300 * time.Millisecond // longer than Linux's delayed-ACK timer
)

// Sleep pauses the scenario.
func Sleep(d time.Duration) { time.Sleep(d) }

// slowRouterAttempts bounds how often RunScenario runs a scenario whose
// router capture came out with copies too far apart (errSlowRouter).
const slowRouterAttempts = 5

// RunScenario builds a fresh topology, runs the scenario, writes its
// captures and expectation files to out, and removes the topology. A
// scenario whose capture of every interface of the router has the two
// copies of a frame more than CopyWindow apart (the router's goroutines
// were descheduled) is run again, up to slowRouterAttempts times in all.
func RunScenario(sc *Scenario, out string, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for attempt := 1; ; attempt++ {
		err := runScenarioOnce(sc, out, logf)
		if err == nil || !errors.Is(err, errSlowRouter) || attempt == slowRouterAttempts {
			return err
		}
		logf("%s: attempt %d: %v; running it again", sc.Name, attempt, err)
	}
}

func runScenarioOnce(sc *Scenario, out string, logf func(string, ...any)) (err error) {
	lab, err := NewLab()
	if err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scenario %s panicked: %v\n%s", sc.Name, p, debug.Stack())
		}
	}()
	r, err := lab.StartRouter(0)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	s := &Session{Lab: lab, Router: r, Name: sc.Name, Out: out, Log: logf}
	runErr := sc.Run(s)
	time.Sleep(settle)
	var stopErrs []error
	for _, c := range s.caps {
		if c == s.mirror {
			continue
		}
		stopErrs = append(stopErrs, c.Stop())
	}
	stopErrs = append(stopErrs, r.Stop())
	if s.mirror != nil {
		stopErrs = append(stopErrs, s.mirror.Stop())
	}
	for _, f := range s.atEnd {
		f()
	}
	if runErr != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
	}
	if err := errors.Join(stopErrs...); err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if !s.captured {
		return fmt.Errorf("scenario %s took no capture", sc.Name)
	}
	for i, c := range s.caps {
		if err := s.writeExpectation(sc, c, s.specs[i]); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}
	return nil
}

func formatLink(f Format) (string, string) {
	switch f {
	case PcapNGEthernet:
		return "pcapng", "ethernet"
	case PcapSLL2:
		return "pcap", "linux-sll2"
	case PcapVLAN:
		return "pcap", "ethernet+802.1q"
	}
	return "pcap", "ethernet"
}

// ExpectPath returns the expectation file of a capture: NAME.expect.json
// for NAME.pcap, NAME.pcapng.
func ExpectPath(capture string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(capture, ".pcapng"), ".pcap")
	return base + ".expect.json"
}

func (s *Session) writeExpectation(sc *Scenario, c *Capture, sp CapSpec) error {
	pkts, err := ReadCapture(c.Path)
	if err != nil {
		return err
	}
	if sp.Vantage == "middle" && sp.Format == PcapSLL2 {
		// Each flow is judged on one copy of each frame, the first.
		if pkts, err = collapseCopies(c.Path, pkts, s.Router.Unsent()); err != nil {
			return fmt.Errorf("the capture is not the router's doubled view: %w", err)
		}
	}
	format, link := formatLink(sp.Format)
	e := &Expectation{Capture: filepath.Base(c.Path), Scenario: sc.Name, Description: sc.Description,
		Vantage: sp.Vantage, Format: format, Link: link}
	var problems []error
	for _, f := range s.flows {
		fe := FlowExpect{Client: f.Client.String(), Server: f.Server.String(), Incarnation: f.Incarnation,
			Class: f.Class, Flags: slices.Clone(f.Flags), ActiveCloser: f.Closer, Note: f.Note}
		if v, ok := f.Views[sp.Vantage]; ok {
			fe.Class, fe.Flags = v.Class, slices.Clone(v.Flags)
			if v.Note != "" {
				fe.Note = v.Note
			}
			if v.Closer != "" {
				fe.ActiveCloser = v.Closer
			}
		}
		ip := flowPackets(pkts, f, s.flows)
		fe.Frames = ip.frames()
		if len(ip.pkts) == 0 && ip.old == nil && len(fe.Frames) == 0 {
			problems = append(problems, fmt.Errorf("%s: flow %s -> %s #%d has no packet", e.Capture, fe.Client, fe.Server, fe.Incarnation))
			continue
		}
		if err := ip.check(&fe, sp.Vantage); err != nil {
			problems = append(problems, fmt.Errorf("%s: flow %s -> %s #%d (%s): %w", e.Capture, fe.Client, fe.Server, fe.Incarnation, fe.Class, err))
		} else if f.Verify != nil {
			if err := f.Verify(&ip, sp.Vantage); err != nil {
				problems = append(problems, fmt.Errorf("%s: flow %s -> %s #%d (%s): %w", e.Capture, fe.Client, fe.Server, fe.Incarnation, fe.Class, err))
			}
		}
		e.Flows = append(e.Flows, fe)
	}
	if err := errors.Join(problems...); err != nil {
		return fmt.Errorf("the capture contradicts the scenario:\n%w", err)
	}
	return WriteExpectation(ExpectPath(c.Path), e)
}

// incPackets are the packets of one flow incarnation in one capture.
type incPackets struct {
	client, server netip.AddrPort
	pkts           []Packet // in capture order, without segments of other incarnations
	old            *Packet  // a late segment of an earlier incarnation that arrived in this one
	answer         *Packet  // the first packet sent back after old
	dsack          *Packet  // a D-SACK that covers the late segment's range
	lateSentHere   *Packet  // for the earlier incarnation: its segment that arrived late
}

// flowPackets picks the packets of one incarnation out of a capture:
// incarnations of a 5-tuple are split on the client's SYN (a new ISN).
// Segments of an earlier incarnation released late are set apart.
func flowPackets(all []Packet, f *FlowSpec, flows []*FlowSpec) incPackets {
	ip := incPackets{client: f.Client, server: f.Server}
	// Late segments that arrive in some incarnation of this tuple.
	type late struct {
		inc int
		p   *Packet
	}
	var lates []late
	for _, o := range flows {
		if o.Client == f.Client && o.Server == f.Server && o.Late != nil {
			lates = append(lates, late{o.Incarnation, o.Late})
		}
	}
	isLate := func(p *Packet, inc int) *late {
		for i := range lates {
			l := lates[i]
			if l.inc == inc && p.Src == l.p.Src && p.Seq == l.p.Seq && p.Flags == l.p.Flags && p.Len == l.p.Len {
				return &lates[i]
			}
		}
		return nil
	}
	inc, synSeen, synSeq := 1, false, uint32(0)
	var lastOld *Packet
	for i := range all {
		p := &all[i]
		if !((p.Src == f.Client && p.Dst == f.Server) || (p.Src == f.Server && p.Dst == f.Client)) {
			continue
		}
		if p.Src == f.Client && p.Flags&(TCPSyn|TCPAck) == TCPSyn {
			if synSeen && p.Seq != synSeq {
				inc++
			}
			synSeen, synSeq = true, p.Seq
		}
		if l := isLate(p, inc); l != nil && inc > 1 {
			if inc == f.Incarnation {
				q := *p
				ip.old = &q
				lastOld = &q
			}
			if inc-1 == f.Incarnation {
				q := *p
				ip.lateSentHere = &q
			}
			continue
		}
		if inc != f.Incarnation {
			continue
		}
		if lastOld != nil && ip.answer == nil && p.Src != lastOld.Src {
			q := *p
			ip.answer = &q
		}
		if f.Late != nil && ip.dsack == nil {
			for _, b := range p.SACK {
				if p.Src != f.Late.Src && b[0] == f.Late.Seq {
					q := *p
					ip.dsack = &q
				}
			}
		}
		ip.pkts = append(ip.pkts, *p)
	}
	return ip
}

// first returns the first packet matching pred, or nil.
func (ip *incPackets) first(pred func(p *Packet) bool) *Packet {
	for i := range ip.pkts {
		if pred(&ip.pkts[i]) {
			return &ip.pkts[i]
		}
	}
	return nil
}

func (ip *incPackets) fromClient(p *Packet) bool { return p.Src == ip.client }

// fins returns the first FIN, the other side's first FIN and the first
// retransmission of a FIN.
func (ip *incPackets) fins() (first, second, retrans *Packet) {
	first = ip.first(func(p *Packet) bool { return p.Flags&TCPFin != 0 })
	if first == nil {
		return
	}
	second = ip.first(func(p *Packet) bool { return p.Flags&TCPFin != 0 && p.Src != first.Src })
	seen := map[netip.AddrPort]uint32{}
	for i := range ip.pkts {
		p := &ip.pkts[i]
		if p.Flags&TCPFin == 0 {
			continue
		}
		if s, ok := seen[p.Src]; ok && s == p.Seq {
			retrans = p
			break
		}
		seen[p.Src] = p.Seq
	}
	return
}

func (ip *incPackets) frames() map[string]int {
	m := map[string]int{}
	set := func(k string, p *Packet) {
		if p != nil {
			m[k] = p.Frame
		}
	}
	set("syn", ip.first(func(p *Packet) bool { return ip.fromClient(p) && p.Flags&(TCPSyn|TCPAck) == TCPSyn }))
	set("synack", ip.first(func(p *Packet) bool { return !ip.fromClient(p) && p.Has(TCPSyn|TCPAck) }))
	first, second, retrans := ip.fins()
	set("first_fin", first)
	set("second_fin", second)
	set("retransmitted_fin", retrans)
	set("rst", ip.first(func(p *Packet) bool { return p.Flags&TCPRst != 0 }))
	if first != nil && second != nil {
		set("final_ack", ip.first(func(p *Packet) bool {
			return p.Src == first.Src && p.PureACK() && p.Ack == second.End() && p.Frame > second.Frame
		}))
	}
	set("old_segment", ip.old)
	set("old_segment", ip.lateSentHere)
	set("answer", ip.answer)
	set("dsack", ip.dsack)
	return m
}

// rstInTimeWait reports whether rst reached a side in TIME_WAIT: before
// it, the receiving side had sent its FIN and seen it acknowledged, and had
// acknowledged the sender's FIN (FIN_WAIT_2 + FIN, or CLOSING + ACK).
func (ip *incPackets) rstInTimeWait(rst *Packet) bool {
	if rst == nil {
		return false
	}
	before := func(pred func(p *Packet) bool) *Packet {
		return ip.first(func(p *Packet) bool { return p.Frame < rst.Frame && pred(p) })
	}
	// The receiver's FIN and the RST sender's FIN.
	rcvFIN := before(func(p *Packet) bool { return p.Src != rst.Src && p.Flags&TCPFin != 0 })
	sndFIN := before(func(p *Packet) bool { return p.Src == rst.Src && p.Flags&TCPFin != 0 })
	if rcvFIN == nil || sndFIN == nil {
		return false
	}
	rcvFINAcked := before(func(p *Packet) bool {
		return p.Src == rst.Src && p.Flags&TCPAck != 0 && int32(p.Ack-rcvFIN.End()) >= 0
	})
	sndFINAcked := before(func(p *Packet) bool {
		return p.Src != rst.Src && p.Flags&TCPAck != 0 && int32(p.Ack-sndFIN.End()) >= 0
	})
	return rcvFINAcked != nil && sndFINAcked != nil
}

// check verifies that the packets show what the expectation claims: the
// self-test that keeps derived expectations honest.
func (ip *incPackets) check(fe *FlowExpect, vantage string) error {
	first, second, retrans := ip.fins()
	rst := ip.first(func(p *Packet) bool { return p.Flags&TCPRst != 0 })
	syn := ip.first(func(p *Packet) bool { return ip.fromClient(p) && p.Flags&(TCPSyn|TCPAck) == TCPSyn })
	synack := ip.first(func(p *Packet) bool { return !ip.fromClient(p) && p.Has(TCPSyn|TCPAck) })
	has := func(f string) bool { return slices.Contains(fe.Flags, f) }
	need := func(cond bool, format string, args ...any) error {
		if !cond {
			return fmt.Errorf(format, args...)
		}
		return nil
	}
	// Flags that the packets decide.
	if err := need(has("fin-retransmit") == (retrans != nil), "flag fin-retransmit=%v but retransmitted FIN=%v", has("fin-retransmit"), retrans); err != nil {
		return err
	}
	if err := need(has("no-handshake") == (syn == nil), "flag no-handshake=%v but SYN=%v", has("no-handshake"), syn); err != nil {
		return err
	}
	zeroWin := ip.first(func(p *Packet) bool { return p.Win == 0 && p.Flags&(TCPSyn|TCPRst) == 0 })
	if err := need(has("zero-window") == (zeroWin != nil), "flag zero-window=%v but zero-window advertisement=%v", has("zero-window"), zeroWin); err != nil {
		return err
	}
	inTW := ip.rstInTimeWait(rst)
	if err := need(has("rst-in-time-wait") == inTW, "flag rst-in-time-wait=%v but RST %v reached a side in TIME_WAIT=%v", has("rst-in-time-wait"), rst, inTW); err != nil {
		return err
	}
	if first != nil {
		passiveData := ip.first(func(p *Packet) bool { return p.Src != first.Src && p.Len > 0 && p.Frame > first.Frame })
		if err := need(has("half-close") == (passiveData != nil), "flag half-close=%v but data after first FIN=%v", has("half-close"), passiveData); err != nil {
			return err
		}
		ackOfFirst := ip.first(func(p *Packet) bool {
			return p.Src != first.Src && p.Flags&TCPAck != 0 && int32(p.Ack-first.End()) >= 0
		})
		piggy := ackOfFirst != nil && ackOfFirst.Flags&TCPFin != 0 && (second == nil || int32(second.Ack-first.End()) >= 0)
		if fe.Class != "simultaneous" {
			if err := need(has("piggybacked-fin") == piggy, "flag piggybacked-fin=%v but the first ACK of the first FIN is %v", has("piggybacked-fin"), ackOfFirst); err != nil {
				return err
			}
		}
	}
	acked := func(fin *Packet) bool {
		return fin != nil && ip.first(func(p *Packet) bool {
			return p.Src != fin.Src && p.Flags&TCPAck != 0 && p.Ack == fin.End() && p.Frame > fin.Frame
		}) != nil
	}
	switch fe.Class {
	case "four-way":
		if err := need(first != nil && second != nil && rst == nil && retrans == nil, "want two FINs, no RST, no retransmitted FIN"); err != nil {
			return err
		}
		return need(second.Ack == first.End() && acked(second), "want the second FIN to ack the first, and itself acked")
	case "simultaneous":
		if err := need(first != nil && second != nil && rst == nil, "want two FINs and no RST"); err != nil {
			return err
		}
		return need(second.Ack != first.End() && first.Ack != second.End(),
			"the FINs did not cross: first %v, second %v", first, second)
	case "rst-abort":
		if err := need(rst != nil, "no RST"); err != nil {
			return err
		}
		return need(ip.first(func(p *Packet) bool { return p.Src == rst.Src && p.Flags&TCPFin != 0 && p.Frame < rst.Frame }) == nil,
			"the resetting side sent a FIN before its RST")
	case "rst-after-close":
		if err := need(rst != nil, "no RST"); err != nil {
			return err
		}
		return need(ip.first(func(p *Packet) bool { return p.Src == rst.Src && p.Flags&TCPFin != 0 && p.Frame < rst.Frame }) != nil,
			"the resetting side had sent no FIN")
	case "refused":
		return need(syn != nil && rst != nil && synack == nil, "want SYN answered by RST")
	case "lost-ack", "lost-fin", "fin-retransmit":
		if err := need(retrans != nil, "no retransmitted FIN"); err != nil {
			return err
		}
		orig := ip.first(func(p *Packet) bool { return p.Src == retrans.Src && p.Flags&TCPFin != 0 })
		reack := ip.first(func(p *Packet) bool {
			return p.Src != retrans.Src && p.Flags&TCPAck != 0 && p.Ack == retrans.End() && p.Frame > retrans.Frame
		})
		if err := need(reack != nil, "the retransmitted FIN was never acked"); err != nil {
			return err
		}
		earlyAck := ip.first(func(p *Packet) bool {
			return p.Src != retrans.Src && p.Ack == retrans.End() && p.Frame < retrans.Frame
		})
		switch fe.Class {
		case "fin-retransmit":
			return need(!reack.HasTS && earlyAck == nil, "timestamps or the first ACK make the lost segment visible")
		case "lost-ack":
			if earlyAck != nil {
				return nil // seen near the TIME_WAIT side: ACK, then the FIN again
			}
			return need(reack.HasTS && reack.TSecr == orig.TSval, "the re-ACK echoes TSval %d, not the original FIN's %d", reack.TSecr, orig.TSval)
		default:
			if err := need(earlyAck == nil, "an ACK of the FIN came before the retransmission"); err != nil {
				return err
			}
			return need(reack.HasTS && reack.TSecr == retrans.TSval, "the ACK echoes TSval %d, not the retransmitted FIN's %d", reack.TSecr, retrans.TSval)
		}
	case "late-duplicate":
		return need(ip.old != nil || ip.dsack != nil, "neither the late segment nor a D-SACK for it is in the capture")
	case "close-wait":
		return need(first != nil && second == nil && rst == nil && acked(first), "want one acked FIN, no other FIN, no RST")
	case "fin-wait":
		return need(first != nil && second == nil && rst == nil && !acked(first), "want one FIN never acked, no RST")
	case "open":
		return need(first == nil && rst == nil, "want no FIN and no RST")
	}
	return nil
}

// Registry of scenarios, in -list order.
var registry []*Scenario

func register(s *Scenario) { registry = append(registry, s) }

// Scenarios returns every scenario in a stable order.
func Scenarios() []*Scenario { return slices.Clone(registry) }

// Lookup returns the named scenario.
func Lookup(name string) (*Scenario, error) {
	for _, s := range registry {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no scenario %q (see -list)", name)
}

// Generate runs the named scenarios (all when names is empty) into out,
// one topology each.
func Generate(out string, names []string, logf func(string, ...any)) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	list := Scenarios()
	if len(names) > 0 {
		list = nil
		for _, n := range names {
			s, err := Lookup(n)
			if err != nil {
				return err
			}
			list = append(list, s)
		}
	}
	for _, sc := range list {
		start := time.Now()
		if err := RunScenario(sc, out, logf); err != nil {
			return err
		}
		if logf != nil {
			logf("%-28s %v", sc.Name, time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}
