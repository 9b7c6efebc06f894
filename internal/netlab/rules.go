//go:build linux

package netlab

import (
	"fmt"
	"net/netip"
	"sync"
)

// Dir is the direction a frame travels through the router.
type Dir uint8

// The directions. AnyDir in a Rule matches both.
const (
	AnyDir         Dir = iota
	ClientToServer     // arrived on the client leg, leaves on the server leg
	ServerToClient     // arrived on the server leg, leaves on the client leg
)

// String returns "any", "c2s" or "s2c".
func (d Dir) String() string {
	switch d {
	case ClientToServer:
		return "c2s"
	case ServerToClient:
		return "s2c"
	}
	return "any"
}

// Action is what the router does with a frame a rule matched.
type Action uint8

// The actions.
const (
	Forward Action = iota // forward after the one-way delay (the default)
	Drop                  // drop the frame
	Hold                  // keep the frame until Router.Release is called with the rule's name
)

// String names the action.
func (a Action) String() string {
	switch a {
	case Drop:
		return "drop"
	case Hold:
		return "hold"
	}
	return "forward"
}

// Matcher is a predicate on a decoded frame. The router calls every rule's
// matcher for every TCP frame in both directions, in the order the router
// sees them (one at a time), so a matcher may keep state, like "the first
// pure ACK after a FIN of the other side".
type Matcher func(d Dir, p *Packet) bool

// Rule tells the router to drop or hold frames. Rules never edit a frame.
type Rule struct {
	Name   string  // unique; names the held frames for Release
	Dir    Dir     // only frames travelling this way are acted on
	Match  Matcher // nil matches every TCP frame
	Action Action
	// Times is how many matching frames the action applies to: 0 means
	// once (the usual "drop the first ..."), a negative value every time.
	Times int
}

// ruleSet evaluates rules. It is safe for concurrent use.
type ruleSet struct {
	mu    sync.Mutex
	rules []*ruleState
}

type ruleState struct {
	Rule
	fired   int
	matched []Packet      // the frames the action was applied to
	firstCh chan struct{} // closed on the first application
}

func (rs *ruleSet) add(r Rule) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, o := range rs.rules {
		if o.Name == r.Name {
			return fmt.Errorf("rule %q already exists", r.Name)
		}
	}
	if r.Action == Forward {
		return fmt.Errorf("rule %q: action must be drop or hold", r.Name)
	}
	rs.rules = append(rs.rules, &ruleState{Rule: r, firstCh: make(chan struct{})})
	return nil
}

// decide returns the action for a frame and the rule that chose it (nil
// for Forward). Every matcher sees the frame, even after one has decided.
func (rs *ruleSet) decide(d Dir, p *Packet) (Action, *ruleState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	act, by := Forward, (*ruleState)(nil)
	for _, r := range rs.rules {
		ok := r.Match == nil || r.Match(d, p)
		if !ok || by != nil || (r.Dir != AnyDir && r.Dir != d) {
			continue
		}
		limit := r.Times
		if limit == 0 {
			limit = 1
		}
		if limit > 0 && r.fired >= limit {
			continue
		}
		r.fired++
		r.matched = append(r.matched, *p)
		if r.fired == 1 {
			close(r.firstCh)
		}
		act, by = r.Action, r
	}
	return act, by
}

func (rs *ruleSet) find(name string) *ruleState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// All matches when every matcher matches. Every matcher is called, so
// stateful matchers keep seeing every frame.
func All(ms ...Matcher) Matcher {
	return func(d Dir, p *Packet) bool {
		ok := true
		for _, m := range ms {
			if !m(d, p) {
				ok = false
			}
		}
		return ok
	}
}

// HasFlags matches segments with every bit of f set.
func HasFlags(f uint8) Matcher {
	return func(_ Dir, p *Packet) bool { return p.Flags&f == f }
}

// Data matches segments that carry payload.
func Data() Matcher { return func(_ Dir, p *Packet) bool { return p.Len > 0 } }

// Port matches segments from or to the TCP port.
func Port(port uint16) Matcher {
	return func(_ Dir, p *Packet) bool { return p.Src.Port() == port || p.Dst.Port() == port }
}

// Tuple matches the segments of one connection, in both directions.
func Tuple(client, server netip.AddrPort) Matcher {
	return func(_ Dir, p *Packet) bool {
		return (p.Src == client && p.Dst == server) || (p.Src == server && p.Dst == client)
	}
}

// Nth matches the n-th (1-based) frame that m matches, and only that one.
func Nth(n int, m Matcher) Matcher {
	seen := 0
	return func(d Dir, p *Packet) bool {
		if !m(d, p) {
			return false
		}
		seen++
		return seen == n
	}
}

// FinalACK matches the last ACK of a close sent in direction d: a pure ACK
// that acknowledges the peer's FIN, sent by a side that had already sent its
// own FIN. It tracks FINs per connection.
func FinalACK(d Dir) Matcher {
	type key struct{ src, dst netip.AddrPort }
	finEnd := map[key]uint32{} // sender -> receiver: end of the sender's FIN
	return func(fd Dir, p *Packet) bool {
		k := key{p.Src, p.Dst}
		if p.Flags&TCPFin != 0 {
			finEnd[k] = p.End()
		}
		if fd != d || !p.PureACK() {
			return false
		}
		peer, ok := finEnd[key{p.Dst, p.Src}]
		_, own := finEnd[k]
		return ok && own && p.Ack == peer
	}
}

// TupleKey returns "src>dst" for a packet, used in logs.
func TupleKey(p *Packet) string { return p.Src.String() + ">" + p.Dst.String() }
