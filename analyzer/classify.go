package analyzer

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"teardown/reassembly"
)

// Classification rules, most specific first; the first that applies is the
// flow's class (the others show up as flags):
//
//  1. late-duplicate: a segment of an earlier incarnation of the 5-tuple
//     reached this one (seen directly, or betrayed by a D-SACK block).
//  2. refused: the SYN was answered by RST, no SYN/ACK.
//  3. rst-after-close: the first RST came from a side that had already
//     sent its FIN; rst-abort: from a side that had not.
//  4. lost-ack, lost-fin, fin-retransmit: a FIN was sent again and was
//     then acknowledged. lost-ack when the ACK of the first transmission
//     was captured before the retransmission, or when the ACK of the
//     retransmission echoes the TSval of the original FIN (a duplicate does
//     not update TS.Recent, RFC 7323 §4.3); lost-fin when it echoes the
//     TSval of the retransmission; fin-retransmit when the capture cannot
//     tell (no timestamps, or neither matches).
//  5. simultaneous: both sides sent FIN and neither FIN's ack field
//     covers the other's FIN.
//  6. four-way: both FINs sent and acknowledged.
//  7. close-wait: one FIN acknowledged and the other side never sent one;
//     fin-wait: a FIN never acknowledged.
//  8. open: no FIN or RST.
func (f *flow) classify() (Class, Closer) {
	closer := CloserNone
	if f.has(cbClosing) {
		closer = sideCloser(f.firstClose)
	}
	bothFIN := f.d.fin[Client].ok && f.d.fin[Server].ok
	simultaneous := bothFIN && !f.d.unseenFIN[Client] && !f.d.unseenFIN[Server] &&
		!f.finCovers(Client) && !f.finCovers(Server)
	if simultaneous {
		closer = CloserBoth
	}
	switch {
	case f.d.rare().oldSeg.ok:
		if f.has(cbRefused) {
			closer = CloserNone
		}
		return ClassLateDuplicate, closer
	case f.has(cbRefused):
		return ClassRefused, CloserNone
	case f.d.rst.ok && f.rstEndsTimeWait():
		// The close was over before the RST: the class is the close's,
		// and the flag rst-in-time-wait tells the rest.
	case f.d.rst.ok && f.d.fin[f.d.rstBy].ok && f.d.fin[f.d.rstBy].at <= f.d.rst.at:
		return ClassRSTAfterClose, closer
	case f.d.rst.ok:
		return ClassRSTAbort, closer
	}
	if side, ok := f.retransmittedFIN(); ok {
		c, _ := f.lostWhich(side)
		return c, closer
	}
	switch {
	case simultaneous:
		return ClassSimultaneous, closer
	case bothFIN && f.d.finAck[Client].ok && f.d.finAck[Server].ok:
		return ClassFourWay, closer
	case f.d.fin[Client].ok && !f.d.finAck[Client].ok, f.d.fin[Server].ok && !f.d.finAck[Server].ok:
		return ClassFINWait, closer
	case f.d.fin[Client].ok || f.d.fin[Server].ok:
		return ClassCloseWait, closer
	}
	return ClassOpen, closer
}

func sideCloser(s Side) Closer {
	if s == Client {
		return CloserClient
	}
	return CloserServer
}

// rstEndsTimeWait reports whether the first RST only ended a TIME_WAIT: it
// reached a side in TIME_WAIT after both FINs had been acknowledged, so it
// aborted nothing (typically a closed host's answer to a re-ACK).
func (f *flow) rstEndsTimeWait() bool {
	d := f.d
	return d.rstTo == StateTimeWait && d.fin[Client].ok && d.fin[Server].ok &&
		d.finAck[Client].ok && d.finAck[Server].ok &&
		d.finAck[Client].at <= d.rst.at && d.finAck[Server].at <= d.rst.at
}

// finCovers reports whether side's FIN acknowledged the peer's FIN.
func (f *flow) finCovers(side Side) bool {
	fin := &f.d.fin[side]
	return fin.hasAck && f.h[side.Other()].AckedFIN(fin.ack)
}

// retransmittedFIN returns the side whose FIN was sent again and then
// acknowledged (the client's first if both).
func (f *flow) retransmittedFIN() (Side, bool) {
	for _, s := range []Side{Client, Server} {
		if f.d.rare().finRetx[s].ok && f.d.finAck[s].ok {
			return s, true
		}
	}
	return 0, false
}

// lossReason is the evidence that decided which segment was lost.
type lossReason uint8

const (
	lossACKSeen   lossReason = iota // the ACK was captured before the retransmission
	lossTSOrig                      // the re-ACK echoes the original FIN's TSval
	lossTSRetx                      // the ACK echoes the retransmission's TSval
	lossTSNeither                   // the TSecr matches neither FIN
	lossNoTS                        // no timestamps (or equal ones): cannot tell
)

// lostWhich decides which segment was lost when side's FIN was sent again.
func (f *flow) lostWhich(side Side) (Class, lossReason) {
	orig, retx, ack := f.d.fin[side], f.d.rare().finRetx[side], f.d.finAck[side]
	if ack.ok && ack.at <= retx.at && ack.ref() != retx.ref() {
		return ClassLostACK, lossACKSeen
	}
	after := f.d.rare().ackAfter[side]
	if !after.ok {
		after = ack
	}
	if after.ok && after.hasTS && orig.hasTS && retx.hasTS && orig.tsval != retx.tsval {
		switch after.tsecr {
		case orig.tsval:
			return ClassLostACK, lossTSOrig
		case retx.tsval:
			return ClassLostFIN, lossTSRetx
		}
		return ClassFINRetransmit, lossTSNeither
	}
	return ClassFINRetransmit, lossNoTS
}

// lossEvidence explains lostWhich's decision as a clause for the verdict.
func (f *flow) lossEvidence(side Side) string {
	peer := side.Other()
	fn := f.a.cfg.FrameName
	orig, retx, ack := f.d.fin[side], f.d.rare().finRetx[side], f.d.finAck[side]
	after := f.d.rare().ackAfter[side]
	if !after.ok {
		after = ack
	}
	_, why := f.lostWhich(side)
	switch why {
	case lossACKSeen:
		return fmt.Sprintf("the %s's ACK of it (frame %s) was captured before the retransmission, so it was lost between the capture point and the %s",
			peer, fn(ack.ref()), side)
	case lossTSOrig:
		return fmt.Sprintf("the %s's ACK (frame %s) echoes TSecr %d, the TSval of the original FIN (frame %s), not %d of the retransmission: the %s had received the first FIN and its ACK was lost",
			peer, fn(after.ref()), after.tsecr, fn(orig.ref()), retx.tsval, peer)
	case lossTSRetx:
		return fmt.Sprintf("the %s's ACK (frame %s) echoes TSecr %d, the TSval of the retransmission, not %d of the original FIN (frame %s): the first FIN never reached the %s",
			peer, fn(after.ref()), after.tsecr, orig.tsval, fn(orig.ref()), peer)
	case lossTSNeither:
		return fmt.Sprintf("the %s's ACK (frame %s) echoes TSecr %d, which matches neither FIN's TSval (%d, %d), so the capture cannot tell whether the FIN or the ACK was lost",
			peer, fn(after.ref()), after.tsecr, orig.tsval, retx.tsval)
	}
	noTS := "the segments carry no TCP timestamps"
	if orig.hasTS && retx.hasTS && orig.tsval == retx.tsval {
		noTS = "both FIN transmissions carry the same TSval"
	}
	return fmt.Sprintf("no ACK of the first FIN was captured before the retransmission and %s, so the capture cannot tell whether the FIN or the %s's ACK was lost", noTS, peer)
}

// result builds the public Flow with its verdict.
func (f *flow) result() *Flow {
	out := f.a.reuse().flowOf()
	f.resultInto(out)
	return out
}

// coreInto fills in the parts of out that the flow's core alone gives, which
// stay true after the flow has settled: identity, frames, counters, final
// states and TIME_WAIT.
func (f *flow) coreInto(out *Flow) {
	*out = Flow{
		ID:            f.id,
		Stream:        f.id - 1,
		Incarnation:   int(f.inc),
		Client:        f.client(),
		Server:        f.server(),
		DirGuessed:    f.has(cbDirGuessed),
		Flags:         f.flags,
		First:         f.first(),
		Last:          f.last(),
		FirstAt:       f.firstAt,
		LastAt:        f.lastAt,
		FinalState:    f.st,
		CaptureCopies: int(f.copies),
	}
	for s := Client; s <= Server; s++ {
		out.Packets[s] = f.h[s].Packets
		out.Bytes[s] = f.h[s].Bytes()
		if f.st[s] == StateTimeWait && f.twStart[s] != 0 {
			out.TimeWaitUntil[s] = f.twStart[s] + int64(f.a.cfg.TimeWait)
		}
	}
}

// resultInto computes the flow's verdict into out.
func (f *flow) resultInto(out *Flow) {
	x := f.d.rare()
	class, closer := f.classify()
	f.coreInto(out)
	out.Class, out.ActiveCloser = class, closer
	var vwhy vantageReason
	out.Vantage, vwhy = f.vantage()
	if act := f.firstClose; f.has(cbClosing) && f.d.fin[act].ok && f.d.fin[act.Other()].ok && !f.d.unseenFIN[act.Other()] &&
		f.d.finAck[act].ok && f.d.finAck[act].ref() == f.d.fin[act.Other()].ref() {
		out.Flags.Set(FlagPiggybackedFIN)
	}

	// Stuck half-closed: the capture ended with one side in CLOSE_WAIT.
	if f.has(cbAtEnd) && (class == ClassCloseWait || class == ClassFINWait) {
		for s := Client; s <= Server; s++ {
			if f.d.fin[s].ok && f.d.fin[s.Other()].ok == false {
				out.StuckSide = s.Other()
				out.StuckFor = f.a.now - f.d.fin[s].at
			}
		}
	}
	if f.d.rst.ok && (class == ClassRSTAbort || class == ClassRSTAfterClose || class == ClassRefused || class == ClassLateDuplicate) {
		out.Reset = f.resetInfo(class, false)
	}
	if x.oldSeg.ok {
		ld := f.a.reuse().lateDup()
		ld.Frame, ld.FromIncarnation, ld.Answer = x.oldSeg.ref(), x.oldInc, f.answerText()
		if x.answer.ok {
			ld.AnswerFrame = f.a.reuse().answerFrame()
			*ld.AnswerFrame = x.answer.ref()
		}
		out.LateDuplicate = ld
	}
	if a := f.a; a.cfg.Detail != nil && !a.cfg.Detail(out) {
		return
	}
	out.VantageWhy = f.vantageWhy(out.Vantage, vwhy)
	if out.Reset != nil {
		out.Reset = f.resetInfo(class, true)
	}

	out.Decisive = f.a.reuse().decisive(0)
	dec := out.Decisive
	put := func(name string, r segRef) {
		if r.ok {
			dec[name] = r.ref()
		}
	}
	// The names match the capture lab's expectation files.
	put("syn", f.d.syn)
	put("synack", f.d.synAck)
	put("client_fin", f.d.fin[Client])
	put("server_fin", f.d.fin[Server])
	if f.has(cbClosing) {
		act, pas := f.firstClose, f.firstClose.Other()
		if f.d.fin[act].ok && !f.d.unseenFIN[act] {
			put("first_fin", f.d.fin[act])
		}
		if f.d.fin[pas].ok && !f.d.unseenFIN[pas] {
			put("second_fin", f.d.fin[pas])
		}
		if f.d.fin[act].ok && f.d.fin[pas].ok && class != ClassSimultaneous {
			// The final ACK: the active closer's ACK of the passive FIN.
			put("final_ack", f.d.finAck[pas])
		}
	}
	if side, ok := f.retransmittedFIN(); ok {
		put("retransmitted_fin", x.finRetx[side])
	} else {
		put("retransmitted_fin", x.finRetx[Client])
		put("retransmitted_fin", x.finRetx[Server])
	}
	put("rst", f.d.rst)
	if x.oldViaDSACK {
		put("dsack", x.oldSeg)
	} else {
		put("old_segment", x.oldSeg)
	}
	put("answer", x.answer)

	out.Verdict = f.verdict(out)
	out.Events = f.events()
	f.markLoss(out)
	f.markCrossing(out)
}

func (f *flow) answerText() string {
	x := f.d.rare()
	switch {
	case x.oldViaDSACK:
		return "D-SACK"
	case x.answerKind != answerNone:
		return answerText[x.answerKind]
	}
	return "no answer (dropped)"
}

// resetInfo names who reset the connection and the likely cause; the
// evidence sentence is built only when explain is set.
func (f *flow) resetInfo(class Class, explain bool) *ResetInfo {
	fn := f.a.cfg.FrameName
	by, peer := f.d.rstBy, f.d.rstBy.Other()
	ri := f.a.reuse().reset()
	ri.By, ri.Frame = by, f.d.rst.ref()
	switch {
	case class == ClassRefused:
		ri.Cause = "nothing listening"
		if explain {
			ri.Evidence = f.a.str(cat(f.a.ebuf[:0], "the RST (frame ", fn(f.d.rst.ref()), ") answers the SYN (frame ", fn(f.d.syn.ref()), ") and no SYN/ACK was sent"))
		}
	case class == ClassRSTAfterClose || f.d.fin[by].ok:
		if d := f.d.rare().dataAfter[by]; d.ok {
			ri.Cause = "data after close"
			if explain {
				b := cat(f.a.ebuf[:0], "the ", by.String(), " had sent its FIN (frame ", fn(f.d.fin[by].ref()), ") and then received ")
				b = strconv.AppendUint(b, uint64(d.len), 10)
				ri.Evidence = f.a.str(cat(b, " bytes from the ", peer.String(), " (frame ", fn(d.ref()), "), which a closed socket answers with RST"))
			}
		} else {
			ri.Cause = "other"
			if explain {
				ri.Evidence = f.a.str(cat(f.a.ebuf[:0], "the ", by.String(), " had sent its FIN (frame ", fn(f.d.fin[by].ref()), "); no data after it was captured, so the RST has another cause"))
			}
		}
	case f.d.rst.hasAck == false || !f.d.rstSeqOK:
		ri.Cause = "other"
		ri.Evidence = "the RST is not what a Linux close() sends (RST|ACK at the next sequence number)"
		if !f.d.rst.hasAck {
			ri.Evidence = "the RST carries no ACK, unlike the RST|ACK a Linux close() sends"
		}
	default:
		// The two RSTs are identical on the wire (RST|ACK at the next
		// sequence number, no FIN), so the cause is a judgement from what
		// came before it:
		//   - the resetting side received data, acknowledged it, and had
		//     itself sent nothing: an application that never read what it
		//     was sent (Linux sends RST when close() finds unread data);
		//   - it had sent data and the peer's last data came after it: for
		//     a client (a request and its response) reading the answer and
		//     closing with SO_LINGER {on, 0} is the usual story; for a
		//     server (more data from its client) a request left unread;
		//   - nothing unread was pending: an abortive close.
		d := f.d.lastData[peer]
		own := f.d.lastData[by]
		gotData := d.ok && (!own.ok || own.at < d.at) && f.h[by].HasAck && f.h[peer].Nxt.LessThanEq(f.h[by].Ack.Add(1))
		switch {
		case gotData && f.h[by].Bytes() == 0:
			ri.Cause = "close with unread data"
			if explain {
				b := cat(f.a.ebuf[:0], "the ", by.String(), " had received ")
				b = strconv.AppendUint(b, f.h[peer].Bytes(), 10)
				ri.Evidence = f.a.str(cat(b, " bytes from the ", peer.String(), " (last at frame ", fn(d.ref()),
					"), acknowledged them, sent nothing itself and reset: Linux sends this RST instead of a FIN when close() finds unread data (SO_LINGER {on, 0} would send the same)"))
			}
		case gotData && by == Server:
			// A server that answered, then got more from its client and
			// reset: most often a request it never read (a pipelined or
			// late request on a connection it had decided to close).
			ri.Cause = "close with unread data"
			if explain {
				b := cat(f.a.ebuf[:0], "after its own data (frame ", fn(own.ref()), ") the server received ")
				b = strconv.AppendUint(b, uint64(d.len), 10)
				ri.Evidence = f.a.str(cat(b, " more bytes from the client (frame ", fn(d.ref()),
					"), acknowledged them and reset without answering: likely a request it never read, for which Linux sends RST instead of FIN; SO_LINGER {on, 0} would send the same RST"))
			}
		case gotData:
			// A client that got its answer and reset: most often an
			// abortive close after reading it.
			ri.Cause = "linger-0 abort"
			if explain {
				b := cat(f.a.ebuf[:0], "the ", by.String(), "'s last data (frame ", fn(own.ref()), ") was answered by the ", peer.String(), " (frame ", fn(d.ref()), ", ")
				b = strconv.AppendUint(b, uint64(d.len), 10)
				ri.Evidence = f.a.str(cat(b, " bytes), acknowledged, and then reset instead of closed: an abortive close (SO_LINGER {on, 0}) after reading the answer; a close() that left part of it unread sends the same RST"))
			}
		default:
			ri.Cause = "linger-0 abort"
			if explain {
				ri.Evidence = f.a.str(cat(f.a.ebuf[:0], "nothing from the ", peer.String(), " arrived after the ", by.String(),
					"'s own last data and no FIN came first: an abortive close (SO_LINGER {on, 0}) sends exactly this RST, and so does a close() that left earlier data unread, which the capture cannot show"))
			}
		}
		if f.d.rstUnacked > 0 {
			if explain {
				b := cat(f.a.ebuf[:0], ri.Evidence, "; ")
				b = strconv.AppendInt(b, int64(f.d.rstUnacked), 10)
				ri.Evidence = f.a.str(cat(b, " bytes the ", by.String(), " had sent were still unacknowledged when it reset"))
			}
		}
	}
	return ri
}

// verdict writes the one-sentence explanation, citing frame numbers.
func (f *flow) verdict(out *Flow) string {
	x := f.d.rare()
	fn := f.a.cfg.FrameName
	b := f.a.vbuf[:0]
	defer func() { f.a.vbuf = b[:0] }()
	switch out.Class {
	case ClassLateDuplicate:
		kind := "segment"
		switch {
		case x.oldViaDSACK:
			kind = "segment"
		case x.oldFlags&reassembly.FlagRST != 0:
			kind = "RST"
		case x.oldFlags&reassembly.FlagFIN != 0:
			kind = "FIN"
		case x.oldSeg.len > 0:
			kind = fmt.Sprintf("data segment (%d bytes)", x.oldSeg.len)
		}
		if x.oldViaDSACK {
			b = fmt.Appendf(b, "The %s's D-SACK block at frame %s reports a duplicate %s from incarnation %d that reached it during incarnation %d without being captured",
				x.oldFrom.Other(), fn(x.oldSeg.ref()), kind, x.oldInc, f.inc)
		} else {
			b = fmt.Appendf(b, "Frame %s is a %s of incarnation %d (its sequence space%s) that reached this incarnation %d; the %s answered with %s",
				fn(x.oldSeg.ref()), kind, x.oldInc, f.tsClause(), f.inc, x.oldFrom.Other(), f.answerText())
			if x.answer.ok {
				b = fmt.Appendf(b, " (frame %s)", fn(x.answer.ref()))
			}
		}
		if f.flags.Has(FlagReuseInTimeWait) {
			b = fmt.Appendf(b, "; the tuple was reused %s after %s entered TIME_WAIT in incarnation %d", dur(x.reusedAfter), x.reusedHolder, f.inc-1)
		}
		b = append(b, '.')
	case ClassRefused:
		b = f.server().AppendTo(append(b, "The server "...))
		b = cat(b, " answered the SYN (frame ", fn(f.d.syn.ref()), ") with RST (frame ", fn(f.d.rst.ref()), "): nothing was listening on port ")
		b = append(strconv.AppendUint(b, uint64(f.server().Port), 10), " (connection refused)."...)
	case ClassRSTAbort, ClassRSTAfterClose:
		ri := out.Reset
		state := "ESTABLISHED"
		if f.d.rstFrom != StateUnknown {
			state = f.d.rstFrom.String()
		}
		b = cat(b, "The ", ri.By.String(), " reset the connection (RST frame ", fn(ri.Frame), ") in ", state)
		if out.Class == ClassRSTAbort {
			b = append(b, " without sending a FIN"...)
		}
		b = cat(b, "; likely cause: ", ri.Cause, " — ", ri.Evidence, ".")
	case ClassLostACK, ClassLostFIN, ClassFINRetransmit:
		side, _ := f.retransmittedFIN()
		why := f.lossEvidence(side)
		b = fmt.Appendf(b, "The %s sent its FIN again (frame %s, first at frame %s): %s", side, fn(x.finRetx[side].ref()), fn(f.d.fin[side].ref()), why)
		if x.ackAfter[side].ok && f.st[side.Other()] == StateTimeWait {
			if out.Class != ClassLostACK {
				b = fmt.Appendf(b, "; the %s acknowledged the retransmission (frame %s)", side.Other(), fn(x.ackAfter[side].ref()))
			} else {
				b = fmt.Appendf(b, "; the %s re-ACKed from TIME_WAIT (frame %s)", side.Other(), fn(x.ackAfter[side].ref()))
			}
		}
		b = append(b, '.')
	case ClassSimultaneous:
		b = fmt.Appendf(b, "Both sides closed at once: the client's FIN (frame %s) and the server's FIN (frame %s) crossed, neither acknowledging the other, so both passed through CLOSING and both hold TIME_WAIT.",
			fn(f.d.fin[Client].ref()), fn(f.d.fin[Server].ref()))
	case ClassFourWay:
		// The commonest sentence, so built without fmt.
		act, pas := f.firstClose, f.firstClose.Other()
		b = cat(b, "The ", act.String(), " closed first (FIN frame ", fn(f.d.fin[act].ref()), ")")
		if out.Flags.Has(FlagPiggybackedFIN) || f.d.finAck[act].ref() == f.d.fin[pas].ref() {
			b = cat(b, ", the ", pas.String(), " acknowledged it with its own FIN (frame ", fn(f.d.fin[pas].ref()), ")")
		} else {
			b = cat(b, ", the ", pas.String(), " acknowledged it (frame ", fn(f.d.finAck[act].ref()), ") and closed (FIN frame ", fn(f.d.fin[pas].ref()), ")")
		}
		b = cat(b, ", and the ", act.String(), "'s final ACK (frame ", fn(f.d.finAck[pas].ref()), ") completed the close")
		if out.Flags.Has(FlagHalfClose) {
			b = fmt.Appendf(b, "; the %s kept sending after the first FIN (half-close, frame %s)", pas, fn(x.dataAfter[act].ref()))
		}
		b = append(b, '.')
	case ClassCloseWait:
		act := f.firstClose
		if !f.d.fin[act].ok {
			act = act.Other()
		}
		pas := act.Other()
		b = fmt.Appendf(b, "The %s closed (FIN frame %s, acknowledged at frame %s) but the %s never sent its FIN: the %s was left in CLOSE_WAIT (its application never called close()) and the %s in %s",
			act, fn(f.d.fin[act].ref()), fn(f.d.finAck[act].ref()), pas, pas, act, f.st[act])
		if out.StuckFor > 0 {
			b = fmt.Appendf(b, " for %s until the capture ended", dur(out.StuckFor))
		}
		b = append(b, '.')
	case ClassFINWait:
		side := f.firstClose
		if !(f.d.fin[side].ok && !f.d.finAck[side].ok) {
			side = side.Other()
		}
		b = fmt.Appendf(b, "The %s's FIN (frame %s) was never acknowledged before the capture ended", side, fn(f.d.fin[side].ref()))
		if c := f.h[side].FINCount; c > 1 {
			b = fmt.Appendf(b, " although it was sent %d times", c)
		}
		b = append(b, '.')
	default:
		switch {
		case x.supersededBy.Frame != 0:
			b = fmt.Appendf(b, "No FIN or RST was seen before a new SYN (frame %s) reused the 5-tuple.", fn(x.supersededBy))
		case f.d.syn.ok && !f.d.synAck.ok && f.h[Server].Packets == 0:
			b = fmt.Appendf(b, "The client's SYN (frame %s) was never answered", fn(f.d.syn.ref()))
			if n := f.h[Client].Packets; n > 1 {
				b = fmt.Appendf(b, " although it was sent %d times", n)
			}
			b = append(b, ": the server is down, unreachable or filtered (a firewall dropping the SYN), or the capture missed the answer."...)
		default:
			b = fmt.Appendf(b, "No FIN or RST was seen: the connection was still open when the capture ended (last segment frame %s).", fn(f.last()))
		}
	}
	if one := f.oneWay(); one >= 0 && out.Class != ClassOpen {
		b = bytes.TrimSuffix(b, []byte("."))
		b = fmt.Appendf(b, "; only the %s's segments were captured (a one-sided tap or asymmetric routing?), so the %s's FIN, ACKs and RSTs may exist unseen.", Side(one), Side(one).Other())
	}
	if f.d.rst.ok && f.rstEndsTimeWait() {
		b = bytes.TrimSuffix(b, []byte("."))
		b = fmt.Appendf(b, "; then an RST from the %s (frame %s), its kernel's answer once the connection was gone, ended the %s's TIME_WAIT early (Linux, net.ipv4.tcp_rfc1337=0).",
			f.d.rstBy, fn(f.d.rst.ref()), f.d.rstBy.Other())
	}
	if (out.TimeWaitUntil[Client] != 0 || out.TimeWaitUntil[Server] != 0) && out.Class != ClassSimultaneous {
		b = bytes.TrimSuffix(b, []byte("."))
		b = append(b, "; "...)
		b = f.appendTimeWait(b, out)
		b = append(b, '.')
	}
	return string(b)
}

// oneWay returns the only side whose segments were captured, or -1 when
// both sides were seen.
func (f *flow) oneWay() int {
	switch {
	case f.h[Server].Packets == 0 && f.h[Client].Packets > 0:
		return int(Client)
	case f.h[Client].Packets == 0 && f.h[Server].Packets > 0:
		return int(Server)
	}
	return -1
}

// tsClause adds the timestamp evidence for an old segment.
func (f *flow) tsClause() string {
	x := f.d.rare()
	if !x.oldSeg.hasTS {
		return ""
	}
	r := f.d.syn
	if x.oldFrom == Server {
		r = f.d.synAck
	}
	if r.ok && r.hasTS && int32(x.oldSeg.tsval-r.tsval) < 0 {
		return fmt.Sprintf(", and TSval %d older than this incarnation's %d", x.oldSeg.tsval, r.tsval)
	}
	return ""
}

// appendTimeWait appends who holds TIME_WAIT and until when.
func (f *flow) appendTimeWait(b []byte, out *Flow) []byte {
	sep := false
	for s := Client; s <= Server; s++ {
		if u := out.TimeWaitUntil[s]; u != 0 {
			if sep {
				b = append(b, ", "...)
			}
			sep = true
			b = f.endpoint(s).AppendTo(cat(b, s.String(), " "))
			b = append(b, " holds TIME_WAIT until "...)
			b = appendUTC(b, u)
		}
	}
	return b
}

// cat appends the strings to b.
func cat(b []byte, s ...string) []byte {
	for _, x := range s {
		b = append(b, x...)
	}
	return b
}

// utcLayout is how verdicts give a capture time.
const utcLayout = "2006-01-02T15:04:05.000000Z"

// appendUTC appends the Unix time ns in utcLayout, without the cost of
// time.Format for the four-digit years of real captures.
func appendUTC(b []byte, ns int64) []byte {
	t := time.Unix(0, ns).UTC()
	year, month, day := t.Date()
	if year < 1000 || year > 9999 {
		return t.AppendFormat(b, utcLayout)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), min, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends v, which is not negative, in exactly w <= 6 digits.
func appendDigits(b []byte, v, w int) []byte {
	var d [6]byte
	for i := w - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:w]...)
}

// dur formats a duration for sentences: "1.203s", "250ms".
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.String()
}

// events converts the kept timeline records to Events.
func (f *flow) events() []Event {
	d := f.d
	recs := append(f.a.recBuf[:0], d.ev[:min(d.nev, evInline)]...)
	if d.nev > evInline {
		recs = append(recs, d.evMore[:d.nev-evInline]...)
	}
	defer func() { f.a.recBuf = recs[:0] }()
	if f.d.ntail > 0 {
		start := 0
		if f.d.ntail > tailLen {
			start = f.d.ntail % tailLen
		}
		n := min(f.d.ntail, tailLen)
		for i := 0; i < n; i++ {
			recs = append(recs, f.d.tail[(start+i)%tailLen])
		}
	}
	// Data kept aside before a close that never came.
	for s := Client; s <= Server; s++ {
		if f.d.hasPre[s] {
			recs = append(recs, f.d.preData[s])
		}
	}
	sortRecs(recs)
	out := f.a.reuse().events(len(recs))
	prev := int64(0)
	for _, r := range recs {
		e := Event{
			FrameRef: r.ref(),
			At:       r.at,
			Rel:      r.at - f.firstAt,
			From:     r.from,
			Flags:    r.flags,
			Seq:      uint32(r.seq),
			Ack:      uint32(r.ack),
			Len:      r.len,
			Win:      r.win,
			HasTS:    r.hasTS,
			TSval:    r.tsval,
			TSecr:    r.tsecr,
			Notes:    f.a.noteStrings(r.notes),
			Client:   r.cs,
			Server:   r.ss,
		}
		if r.idx > prev+1 {
			e.Elided = int(r.idx - prev - 1)
		}
		prev = r.idx
		out = append(out, e)
	}
	return out
}

// sortRecs sorts by segment ordinal (insertion sort: nearly sorted, short).
func sortRecs(r []rec) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].idx < r[j-1].idx; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// markLoss annotates the segment a lost-ack or lost-fin verdict says was
// lost and, for a lost FIN, corrects the receiver's inferred states: it
// did not receive the FIN until the retransmission.
func (f *flow) markLoss(out *Flow) {
	x := f.d.rare()
	side, ok := f.retransmittedFIN()
	if !ok || (out.Class != ClassLostFIN && out.Class != ClassLostACK) {
		return
	}
	peer := side.Other()
	var lost FrameRef
	if out.Class == ClassLostFIN {
		lost = f.d.fin[side].ref()
	} else {
		lost = f.d.finAck[side].ref()
		if lost == x.ackAfter[side].ref() || !f.d.finAck[side].ok || f.d.finAck[side].at > x.finRetx[side].at {
			return // the lost ACK was never captured
		}
	}
	for i := range out.Events {
		e := &out.Events[i]
		if e.FrameRef == lost {
			if out.Class == ClassLostFIN {
				// The FIN's receiver did not get it until the retransmission.
				e.Notes = append(e.Notes, "lost before reaching the "+peer.String())
				holdState(out.Events, i, peer, x.finRetx[side].ref())
			} else {
				// The FIN's sender did not get the ACK: it stayed put until
				// the ACK of its retransmission.
				e.Notes = append(e.Notes, "lost before reaching the "+side.String())
				holdState(out.Events, i, side, x.ackAfter[side].ref())
			}
			return
		}
	}
}

// holdState keeps side's state in events[i:] at what it was before
// events[i], up to the event at frame until: the capture point saw a
// segment its receiver had not (yet) received.
func holdState(events []Event, i int, side Side, until FrameRef) {
	if i == 0 {
		return
	}
	before := events[i-1].Client
	if side == Server {
		before = events[i-1].Server
	}
	for j := i; j < len(events) && events[j].FrameRef != until; j++ {
		if side == Client {
			events[j].Client = before
		} else {
			events[j].Server = before
		}
	}
}

// markCrossing corrects the states of a simultaneous close: the receiver
// of the first FIN captured had not received it when it sent its own, so it
// stayed ESTABLISHED until then rather than passing through CLOSE_WAIT.
func (f *flow) markCrossing(out *Flow) {
	if out.Class != ClassSimultaneous {
		return
	}
	first := f.firstClose
	for i := range out.Events {
		if out.Events[i].FrameRef == f.d.fin[first].ref() {
			holdState(out.Events, i, first.Other(), f.d.fin[first.Other()].ref())
			return
		}
	}
}
