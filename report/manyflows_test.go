package report

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// synth describes a synthetic capture: many flows between a few client
// and server addresses over a long span of capture time, emitted in the
// order the analyzer emits them.
type synth struct {
	flows   int
	span    int64   // capture time over which flows start
	long    float64 // share of connections that last 20 s to 6 min
	idle    float64 // share of flows still open at the end, idle for minutes
	seed    uint64
	clients int // client addresses (a tenth IPv6)
	servers int // server addresses, each with three ports
}

const synthTW = 60 * s

// make returns the flows in emission order and the capture's inputs. A
// flow is emitted as the analyzer does: a closed flow with a side in
// TIME_WAIT once TIME_WAIT has passed since its last segment (up to 50 ms
// later, as the next segment comes), a reset or refused flow 1.5 or 5 s
// after its last segment; what is not due by the last segment (still in
// TIME_WAIT, still open) at the end, in id order.
func (sy synth) make() ([]*analyzer.Flow, []capture.Input) {
	r := rand.New(rand.NewPCG(sy.seed, 0x7ea2d0))
	client := func() reassembly.AddrPort {
		i := r.IntN(sy.clients)
		a := ap("198.18.1.1:0")
		if i%10 == 9 {
			a = ap("[2001:db8:1::1]:0")
		}
		a.Addr[15] += byte(i)
		a.Port = uint16(1024 + r.IntN(64511))
		return a
	}
	server := func() reassembly.AddrPort {
		i := r.IntN(sy.servers)
		a := ap("198.18.200.1:8000")
		if i%4 == 3 {
			a = ap("[2001:db8:200::1]:8000")
		}
		a.Addr[15] += byte(i)
		a.Port += uint16(r.IntN(3))
		return a
	}
	type emit struct {
		f  *analyzer.Flow
		at int64 // when the analyzer emits it; 0: at the end
	}
	var all []emit
	for range sy.flows {
		f := &analyzer.Flow{Client: client(), Server: server(), Incarnation: 1, Vantage: analyzer.VantageServer}
		f.FirstAt = base + r.Int64N(sy.span)
		dur := 5*ms + r.Int64N(3*s)
		if r.Float64() < sy.long {
			dur = 20*s + r.Int64N(340*s)
		}
		f.LastAt = f.FirstAt + dur
		f.Packets = [2]int64{5, 4}
		f.FinalState = [2]analyzer.State{analyzer.StateClosed, analyzer.StateClosed}
		e := emit{f: f}
		switch k := r.Float64(); {
		case k < sy.idle:
			f.Class = analyzer.ClassOpen
			f.LastAt = f.FirstAt + r.Int64N(2*s)
			f.FinalState = [2]analyzer.State{analyzer.StateEstablished, analyzer.StateEstablished}
		case k < sy.idle+0.2:
			f.Class = analyzer.ClassRSTAbort
			f.Reset = &analyzer.ResetInfo{By: analyzer.Side(r.IntN(2)), Cause: "linger-0 abort"}
			e.at = f.LastAt + []int64{1500 * ms, 5 * s}[r.IntN(2)]
		case k < sy.idle+0.25:
			f.Class = analyzer.ClassRefused
			f.LastAt = f.FirstAt + 100*us
			f.Flags.Set(analyzer.FlagNoHandshake)
			e.at = f.LastAt + 1500*ms
		case k < sy.idle+0.27:
			f.Class = analyzer.ClassCloseWait
			f.FinalState = [2]analyzer.State{analyzer.StateFinWait2, analyzer.StateCloseWait}
			f.StuckSide = analyzer.Server
		default:
			f.Class = analyzer.ClassFourWay
			f.Flags.Set(analyzer.FlagPiggybackedFIN)
			side := analyzer.Client
			if r.IntN(4) == 0 {
				side = analyzer.Server
			}
			f.FinalState[side] = analyzer.StateTimeWait
			f.TimeWaitUntil[side] = f.LastAt - r.Int64N(ms) + synthTW
			if r.IntN(40) == 0 {
				f.Class = analyzer.ClassSimultaneous
				f.FinalState[side.Other()] = analyzer.StateTimeWait
				f.TimeWaitUntil[side.Other()] = f.LastAt - r.Int64N(ms) + synthTW
			}
			e.at = f.LastAt + synthTW + r.Int64N(50*ms)
		}
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b emit) int { return cmp.Compare(a.f.FirstAt, b.f.FirstAt) })
	var last int64
	for i, e := range all {
		e.f.ID, e.f.Stream = i+1, i
		last = max(last, e.f.LastAt)
	}
	// The clock stops at the last segment: what is not due by then comes
	// out at the end. Flows still open have seen a segment in the last
	// two seconds, unless idle.
	var out, atEnd []*analyzer.Flow
	slices.SortStableFunc(all, func(a, b emit) int { return cmp.Compare(a.at, b.at) })
	for _, e := range all {
		switch {
		case e.at != 0 && e.at <= last:
			out = append(out, e.f)
		default:
			if e.f.Class == analyzer.ClassCloseWait {
				e.f.LastAt = max(e.f.LastAt, last-r.Int64N(2*s))
				e.f.StuckFor = last - e.f.LastAt + 3*s
			}
			atEnd = append(atEnd, e.f)
		}
	}
	slices.SortFunc(atEnd, func(a, b *analyzer.Flow) int { return cmp.Compare(a.ID, b.ID) })
	out = append(out, atEnd...)
	in := fixtureInputs()
	in[0].Frames, in[0].TCP, in[0].NonTCP = int64(10*sy.flows), int64(9*sy.flows), int64(sy.flows)
	in[0].LastAt = last + 300*ms
	return out, in
}

// manyFlows is a capture of 6000 flows over 15 minutes, hundreds of them
// in TIME_WAIT when it ends, on more hosts than the text lists.
var manyFlows = synth{flows: 6000, span: 900 * s, seed: 1, clients: 40, servers: 8}

// TestManyFlowsGolden renders the summary and findings of manyFlows. The
// golden files were written by the report package as it was when it kept
// every TIME_WAIT side and every port occupancy span, so they check that
// keeping less changes nothing.
func TestManyFlowsGolden(t *testing.T) {
	flows, in := manyFlows.make()
	opts := Options{Inputs: []string{"capture.pcap"}, Filter: Filter{FlowID: -1}, TimeWait: time.Duration(synthTW)}
	checkGolden(t, "many.txt", render(t, Text, opts, flows, in))
	checkGolden(t, "many.json", render(t, JSON, opts, flows, in))
}

// manyLong is manyFlows with one connection in ten lasting minutes: the
// analyzer emits them long after their spans started. (Flows still open
// at the end that had been idle for minutes are left out: the findings
// count their ports as held up to about a TIME_WAIT length before the
// end, see occupancy.)
var manyLong = synth{flows: 6000, span: 900 * s, long: 0.1, seed: 2, clients: 40, servers: 8}

// TestManyLongGolden is TestManyFlowsGolden for manyLong.
func TestManyLongGolden(t *testing.T) {
	flows, in := manyLong.make()
	opts := Options{Inputs: []string{"capture.pcap"}, Filter: Filter{FlowID: -1}, TimeWait: time.Duration(synthTW)}
	checkGolden(t, "many_long.txt", render(t, Text, opts, flows, in))
}
