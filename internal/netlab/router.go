//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
)

// Router is the L2 bridge between the client and server legs, written in
// Go on two AF_PACKET sockets in the router namespace. It forwards every
// frame to the other leg after a one-way delay, except frames a Rule
// matches, which it drops or holds until Release. It never builds or edits
// a TCP segment; the only frames it writes are ones it received.
type Router struct {
	lab     *Lab
	handles [2]*afpacket.TPacket // 0: client leg (rc), 1: server leg (rs)
	out     [2]chan outFrame     // frames to transmit on leg i
	delay   atomic.Int64         // one-way delay, ns
	rules   ruleSet

	heldMu sync.Mutex
	held   map[string][]outFrame

	mirror atomic.Pointer[Capture] // tagged copy of the server leg

	stop    chan struct{}
	readers sync.WaitGroup
	writers sync.WaitGroup
	errMu   sync.Mutex
	err     error

	forwarded, dropped atomic.Int64
}

type outFrame struct {
	due  time.Time
	data []byte
	dir  Dir
}

// pollTimeout bounds how long a reader blocks, so Stop is prompt.
const pollTimeout = 20 * time.Millisecond

// notOutgoing is a classic BPF program that rejects frames the host itself
// sent (PACKET_OUTGOING), so the router never forwards its own writes.
func notOutgoing() ([]bpf.RawInstruction, error) {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipTrue: 1}, // PACKET_OUTGOING
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("assembling BPF filter: %w", err)
	}
	return prog, nil
}

// StartRouter opens the router's AF_PACKET sockets and starts forwarding
// with the given one-way delay.
func (l *Lab) StartRouter(delay time.Duration) (*Router, error) {
	r := &Router{lab: l, held: map[string][]outFrame{}, stop: make(chan struct{})}
	r.delay.Store(int64(delay))
	filter, err := notOutgoing()
	if err != nil {
		return nil, err
	}
	err = l.Do(RouterNode, func() error {
		for i, ifn := range []string{RouterClientIf, RouterServerIf} {
			h, err := openTPacket(ifn)
			if err != nil {
				return err
			}
			r.handles[i] = h
			if err := h.SetBPF(filter); err != nil {
				return fmt.Errorf("setting BPF filter on %s: %w", ifn, err)
			}
			if err := h.SetPromiscuous(true); err != nil {
				return fmt.Errorf("promiscuous mode on %s: %w", ifn, err)
			}
		}
		return nil
	})
	if err != nil {
		r.closeHandles()
		return nil, fmt.Errorf("starting router in %s: %w", l.NSName(RouterNode), err)
	}
	for i := range r.out {
		r.out[i] = make(chan outFrame, 4096)
		r.writers.Add(1)
		go r.writeLoop(i)
	}
	for i := range r.handles {
		r.readers.Add(1)
		go r.readLoop(i)
	}
	return r, nil
}

func (r *Router) closeHandles() {
	for _, h := range r.handles {
		if h != nil {
			h.Close()
		}
	}
}

func (r *Router) setErr(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
}

// SetDelay changes the one-way delay for frames received from now on.
func (r *Router) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// AddRule adds a drop or hold rule. Rules apply to frames received after
// the call.
func (r *Router) AddRule(rule Rule) error { return r.rules.add(rule) }

// SetMirror makes the router write an 802.1Q-tagged copy of every TCP frame
// on its server leg (frames it transmits there and frames it receives from
// there) to c, as a switch's trunk mirror port would. c must come from
// Lab.StartMirror.
func (r *Router) SetMirror(c *Capture) { r.mirror.Store(c) }

// Fired waits until the named rule has acted on a frame, and returns that
// first frame.
func (r *Router) Fired(name string, timeout time.Duration) (Packet, error) {
	rs := r.rules.find(name)
	if rs == nil {
		return Packet{}, fmt.Errorf("no rule %q", name)
	}
	select {
	case <-rs.firstCh:
	case <-time.After(timeout):
		return Packet{}, fmt.Errorf("rule %q matched no frame within %v", name, timeout)
	}
	r.rules.mu.Lock()
	defer r.rules.mu.Unlock()
	return rs.matched[0], nil
}

// Matched returns the frames the named rule acted on so far.
func (r *Router) Matched(name string) []Packet {
	rs := r.rules.find(name)
	if rs == nil {
		return nil
	}
	r.rules.mu.Lock()
	defer r.rules.mu.Unlock()
	return append([]Packet(nil), rs.matched...)
}

// Release transmits the frames held by the named rule now, in the order
// they arrived, and returns how many there were.
func (r *Router) Release(name string) int {
	r.heldMu.Lock()
	fs := r.held[name]
	delete(r.held, name)
	r.heldMu.Unlock()
	for _, f := range fs {
		f.due = time.Now()
		r.out[legOut(f.dir)] <- f
	}
	return len(fs)
}

// legOut is the leg a frame travelling in direction d leaves on.
func legOut(d Dir) int {
	if d == ClientToServer {
		return 1
	}
	return 0
}

func (r *Router) readLoop(leg int) {
	defer r.readers.Done()
	h := r.handles[leg]
	dir := ClientToServer
	if leg == 1 {
		dir = ServerToClient
	}
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		data, ci, err := h.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			continue
		}
		if err != nil {
			r.setErr(fmt.Errorf("router reading leg %d: %w", leg, err))
			return
		}
		f := outFrame{data: append([]byte(nil), data...), dir: dir}
		act, by := Forward, (*ruleState)(nil)
		p, derr := DecodeFrame(LinkEthernet, f.data)
		if derr == nil {
			p.At = ci.Timestamp
			act, by = r.rules.decide(dir, &p)
			if leg == 1 {
				if m := r.mirror.Load(); m != nil {
					m.writeTagged(f.data, ci.Timestamp)
				}
			}
		}
		switch act {
		case Drop:
			r.dropped.Add(1)
		case Hold:
			r.heldMu.Lock()
			r.held[by.Name] = append(r.held[by.Name], f)
			r.heldMu.Unlock()
		default:
			f.due = ci.Timestamp.Add(time.Duration(r.delay.Load()))
			r.out[legOut(dir)] <- f
		}
	}
}

func (r *Router) writeLoop(leg int) {
	defer r.writers.Done()
	h := r.handles[leg]
	for f := range r.out[leg] {
		if d := time.Until(f.due); d > 0 {
			time.Sleep(d)
		}
		// Mirror before writing: the receiver may answer within the write.
		if leg == 1 {
			if m := r.mirror.Load(); m != nil {
				if _, err := DecodeFrame(LinkEthernet, f.data); err == nil {
					m.writeTagged(f.data, time.Now())
				}
			}
		}
		if err := h.WritePacketData(f.data); err != nil {
			r.setErr(fmt.Errorf("router writing leg %d: %w", leg, err))
			continue
		}
		r.forwarded.Add(1)
	}
}

// Stop stops forwarding, drops whatever is still held, closes the sockets
// and returns the first error the router met.
func (r *Router) Stop() error {
	select {
	case <-r.stop:
		return r.err
	default:
	}
	close(r.stop)
	r.readers.Wait()
	for i := range r.out {
		close(r.out[i])
	}
	r.writers.Wait()
	r.closeHandles()
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Unsent returns the frames the router received and did not forward: the
// ones drop rules dropped and the ones still held.
func (r *Router) Unsent() []Packet {
	var out []Packet
	r.rules.mu.Lock()
	for _, rs := range r.rules.rules {
		if rs.Action == Drop {
			out = append(out, rs.matched...)
		}
	}
	r.rules.mu.Unlock()
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	for _, fs := range r.held {
		for _, f := range fs {
			if p, err := DecodeFrame(LinkEthernet, f.data); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}
