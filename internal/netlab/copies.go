//go:build linux

package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// CopyWindow is how close in time the two copies of a frame in a capture
// of every interface of the router must be for teardown to count them as
// one segment (analyzer/track.go, copyWindow).
const CopyWindow = time.Millisecond

// errSlowRouter marks a router capture whose copies are too far apart: the
// router was descheduled for a while. The capture is real but not the one
// the scenario wants; RunScenario runs the scenario again.
var errSlowRouter = errors.New("the router was slow")

// SLL2 packet types (the sll_pkttype of the socket address).
const (
	pktOtherHost = 3 // PACKET_OTHERHOST: arrived, addressed to another host
	pktOutgoing  = 4 // PACKET_OUTGOING: sent by this host
)

// Copies is how the frames of a capture of every interface of the router
// namespace (SLL2) pair up: the router bridges, so a frame it forwards is
// in the capture twice, arriving on one leg and leaving on the other, with
// the same bytes after the SLL2 header.
type Copies struct {
	// Second maps the frame number of each second copy (leaving the
	// router) to the frame number of its first (arriving).
	Second map[int]int
	// Single lists the frames seen only once, arriving: the frames the
	// router dropped (or still held when the capture stopped).
	Single []int
	// MaxGap is the longest time between the two copies of a frame.
	MaxGap time.Duration
	// Interleaved lists the second copies that have, between them and their
	// first copy, another segment from the same sender to the same
	// receiver: teardown only compares a segment with the previous one
	// from the same side.
	Interleaved []int
}

// PairCopies reads an SLL2 capture of every interface of the router
// namespace and pairs each frame the router received with the frame it
// sent on the other leg. A frame leaving the router that never arrived is
// an error: the router only forwards what it received.
func PairCopies(path string) (*Copies, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading pcap %s: %w", path, err)
	}
	if r.LinkType() != LinkSLL2 {
		return nil, fmt.Errorf("%s: link type %v, want Linux SLL2", path, r.LinkType())
	}
	type rec struct {
		frame   int
		at      time.Time
		ifindex uint32
		pkt     Packet
	}
	cp := &Copies{Second: map[int]int{}}
	pending := map[string][]rec{} // arrived, not yet seen leaving, by their bytes after the SLL2 header
	var order []rec               // every TCP frame, in capture order
	for frame := 1; ; frame++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s frame %d: %w", path, frame, err)
		}
		p, err := DecodeFrame(LinkSLL2, data)
		if err != nil {
			continue
		}
		if ci.CaptureLength != ci.Length {
			return nil, fmt.Errorf("%s frame %d: cut by the snap length, cannot compare copies", path, frame)
		}
		x := rec{frame: frame, at: ci.Timestamp, ifindex: binary.BigEndian.Uint32(data[4:8]), pkt: p}
		order = append(order, x)
		key := string(data[20:])
		switch data[10] {
		case pktOutgoing:
			q := pending[key]
			if len(q) == 0 {
				return nil, fmt.Errorf("%s frame %d (%v) leaves the router but never arrived", path, frame, &p)
			}
			first := q[0]
			if first.ifindex == x.ifindex {
				return nil, fmt.Errorf("%s frame %d (%v) leaves on the interface it arrived on (frame %d)", path, frame, &p, first.frame)
			}
			if len(q) == 1 {
				delete(pending, key)
			} else {
				pending[key] = q[1:]
			}
			cp.Second[frame] = first.frame
			cp.MaxGap = max(cp.MaxGap, x.at.Sub(first.at))
			for i := len(order) - 2; i >= 0 && order[i].frame > first.frame; i-- {
				if o := order[i].pkt; o.Src == p.Src && o.Dst == p.Dst {
					cp.Interleaved = append(cp.Interleaved, frame)
					break
				}
			}
		case pktOtherHost:
			pending[key] = append(pending[key], x)
		default:
			return nil, fmt.Errorf("%s frame %d (%v): packet type %d, want %d (to another host) or %d (outgoing)", path, frame, &p, data[10], pktOtherHost, pktOutgoing)
		}
	}
	for _, q := range pending {
		for _, x := range q {
			cp.Single = append(cp.Single, x.frame)
		}
	}
	slices.Sort(cp.Single)
	return cp, nil
}

// collapseCopies returns the packets of a router capture without the
// second copies, after checking that the capture is what it claims: every
// frame twice within CopyWindow with nothing of the same sender between
// the copies, except the frames the router did not forward (unsent), once.
func collapseCopies(path string, pkts []Packet, unsent []Packet) ([]Packet, error) {
	cp, err := PairCopies(path)
	if err != nil {
		return nil, err
	}
	var problems []error
	if cp.MaxGap > CopyWindow {
		problems = append(problems, fmt.Errorf("%w: two copies of a frame are %v apart, more than %v: teardown would count them as two segments", errSlowRouter, cp.MaxGap, CopyWindow))
	}
	if len(cp.Interleaved) > 0 {
		problems = append(problems, fmt.Errorf("frames %v are second copies with another segment of the same sender between them and their first copy", cp.Interleaved))
	}
	byFrame := map[int]*Packet{}
	var out []Packet
	for i := range pkts {
		byFrame[pkts[i].Frame] = &pkts[i]
		if _, second := cp.Second[pkts[i].Frame]; !second {
			out = append(out, pkts[i])
		}
	}
	if len(cp.Single) != len(unsent) {
		problems = append(problems, fmt.Errorf("frames %v are in the capture once, but the router kept back %d frames", cp.Single, len(unsent)))
	}
	left := slices.Clone(unsent)
	for _, n := range cp.Single {
		p := byFrame[n]
		i := slices.IndexFunc(left, func(u Packet) bool {
			return p != nil && p.Src == u.Src && p.Dst == u.Dst && p.Seq == u.Seq && p.Ack == u.Ack && p.Flags == u.Flags && p.Len == u.Len
		})
		if i < 0 {
			problems = append(problems, fmt.Errorf("frame %d (%v) is in the capture once, but the router did not keep it back", n, p))
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
