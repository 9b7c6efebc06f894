package reassembly

import "math"

// Half is the sequence bookkeeping of one direction of a connection: what
// one endpoint sent, as far as the capture shows it. The zero value is a
// direction from which nothing has been seen yet. It is not safe for
// concurrent use.
type Half struct {
	Base Seq // origin of relative sequence numbers: the ISN (see ISN), else the first seq seen minus one
	Nxt  Seq // sequence number just past the highest segment seen (SYN and FIN count)
	FIN  Seq // sequence number the FIN occupies (valid with HasFIN)
	Ack  Seq // highest acknowledgment this side has sent, of the peer's data (valid with HasAck)

	Win   uint32 // last window advertised, scaled when the scale is known
	TSval uint32 // highest TSval seen from this side (valid with HasTS)

	Packets int64 // segments seen

	FINCount uint16 // FIN transmissions seen (retransmissions included), up to 65535
	WScale   int8   // window scale this side announced in its SYN; -1 if unknown

	Started bool // a segment has been seen from this side
	HasISN  bool // its SYN has been seen
	HasFIN  bool // a FIN has been seen
	HasAck  bool // this side has sent an ACK
	HasTS   bool // TCP timestamps seen from this side
}

// Kind is what a segment is, relative to what its sender sent before.
type Kind uint16

// Segment kinds. Several may apply to one segment.
const (
	KindRetransmission Kind = 1 << iota // covers sequence space already seen
	KindGap                             // starts beyond Nxt: the capture missed data before it
	KindKeepAlive                       // seq = Nxt-1 with at most one byte, peer window open
	KindWindowProbe                     // seq = Nxt-1 or Nxt with at most one byte, peer window zero
	KindFINRetransmit                   // a FIN at the position of an earlier FIN
	KindZeroWindow                      // advertises a zero window
	KindOldTS                           // TSval lower than one seen before from this side
)

// scaled returns the window of s in bytes, scaled when the scale is known.
func (h *Half) scaled(s *Segment) uint32 {
	if h.WScale > 0 && s.Flags&FlagSYN == 0 {
		return uint32(s.Win) << uint(h.WScale)
	}
	return uint32(s.Win)
}

// Sent records a segment sent by this side and says what it is. peerWin
// is the window the receiving side last advertised (to tell a keepalive
// from a zero-window probe).
func (h *Half) Sent(s *Segment, peerWin uint32, peerStarted bool) Kind {
	var k Kind
	end := s.End()
	if !h.Started {
		h.Started = true
		h.WScale = -1
		if s.Flags&FlagSYN != 0 {
			h.HasISN, h.Base = true, s.Seq
		} else {
			h.Base = s.Seq - 1
		}
		h.Nxt = end
	} else {
		if s.Flags&FlagSYN != 0 && !h.HasISN {
			h.HasISN, h.Base = true, s.Seq
		}
		seqLen := end.Diff(s.Seq)
		switch {
		case s.Flags&FlagRST != 0:
			// An RST occupies no sequence space and is never a retransmission.
		case seqLen == 0:
			// A pure ACK. seq = Nxt-1 marks a keepalive or window probe.
			if s.Seq == h.Nxt-1 {
				k |= h.probeKind(peerWin, peerStarted)
			}
		case s.Len <= 1 && s.Seq == h.Nxt-1 && s.Flags&(FlagFIN|FlagSYN) == 0:
			k |= h.probeKind(peerWin, peerStarted)
		case end.LessThanEq(h.Nxt):
			k |= KindRetransmission
		case s.Seq.LessThan(h.Nxt):
			k |= KindRetransmission // partly new
		case s.Seq.GreaterThan(h.Nxt):
			k |= KindGap
		}
		if end.GreaterThan(h.Nxt) {
			h.Nxt = end
		}
	}
	h.Packets++
	if s.Flags&FlagFIN != 0 {
		fin := s.Seq.Add(s.Len)
		if h.HasFIN && fin == h.FIN {
			k |= KindFINRetransmit
		}
		if !h.HasFIN || fin.GreaterThan(h.FIN) {
			h.HasFIN, h.FIN = true, fin
		}
		if h.FINCount < math.MaxUint16 {
			h.FINCount++
		}
	}
	if s.Flags&FlagACK != 0 {
		if !h.HasAck || s.Ack.GreaterThan(h.Ack) {
			h.HasAck, h.Ack = true, s.Ack
		}
	}
	if s.Flags&FlagSYN != 0 && s.WScale >= 0 {
		h.WScale = s.WScale
	}
	if s.Flags&FlagRST == 0 {
		h.Win = h.scaled(s)
		if s.Win == 0 && s.Flags&FlagSYN == 0 {
			k |= KindZeroWindow
		}
	}
	if s.HasTS {
		if h.HasTS && int32(s.TSval-h.TSval) < 0 {
			k |= KindOldTS
		} else {
			h.TSval = s.TSval
		}
		h.HasTS = true
	}
	return k
}

func (h *Half) probeKind(peerWin uint32, peerStarted bool) Kind {
	if peerStarted && peerWin == 0 {
		return KindWindowProbe
	}
	return KindKeepAlive
}

// ISN returns the initial sequence number, valid with HasISN: the origin
// of the relative numbers then.
func (h *Half) ISN() Seq { return h.Base }

// Rel returns seq relative to this side's Base (the ISN when seen), as
// Wireshark shows relative sequence numbers.
func (h *Half) Rel(seq Seq) uint32 { return uint32(seq - h.Base) }

// AckedFIN reports whether ack (sent by the peer) acknowledges this
// side's FIN.
func (h *Half) AckedFIN(ack Seq) bool {
	return h.HasFIN && h.FIN.LessThan(ack)
}

// Bytes returns the payload bytes this side sent, as the sequence space
// seen spans them (retransmissions counted once, missed data included).
func (h *Half) Bytes() uint64 {
	if !h.Started {
		return 0
	}
	n := int64(h.Rel(h.Nxt)) - 1
	if h.HasFIN {
		n--
	}
	if n < 0 {
		return 0
	}
	return uint64(n)
}
