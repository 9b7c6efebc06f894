package report

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

// TestTimeWaitAtEnd feeds sides in TIME_WAIT through a summary, for text
// (counts and the first sides per host) and json (every side), pruned as
// the flows' last segments advance, and checks what finish keeps against
// every side whose TIME_WAIT outlasts the capture end.
func TestTimeWaitAtEnd(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 4))
		var flows []*analyzer.Flow
		var last int64
		for i := range 6000 {
			f := &analyzer.Flow{ID: i + 1, Client: ap("198.18.1.1:0"), Server: ap("198.18.200.1:80")}
			f.Client.Addr[15] += byte(r.IntN(3))
			f.Client.Port = uint16(r.IntN(200)) // ports repeat: flows order them
			f.LastAt = base + int64(i)*20*ms + r.Int64N(5*s)
			last = max(last, f.LastAt)
			for side := range f.TimeWaitUntil {
				if r.IntN(3) == 0 {
					f.TimeWaitUntil[side] = f.LastAt + r.Int64N(90*s)
				}
			}
			flows = append(flows, f)
		}
		end := last + r.Int64N(40*s)

		// Every side that outlasts the end, by host, port and flow.
		type side struct {
			host reassembly.AddrPort
			flow int
			s    analyzer.Side
			u    int64
		}
		var want []side
		for _, f := range flows {
			for sd, u := range f.TimeWaitUntil {
				if u > end {
					want = append(want, side{endpoint(f, analyzer.Side(sd)), f.ID, analyzer.Side(sd), u})
				}
			}
		}
		slices.SortFunc(want, func(a, b side) int {
			return cmp.Or(bytes.Compare(a.host.Addr[:], b.host.Addr[:]), cmp.Compare(a.host.Port, b.host.Port), cmp.Compare(a.flow, b.flow))
		})

		for _, list := range []listing{listFirst, listAll} {
			sum := summary{list: list}
			for _, f := range flows {
				sum.add(f)
			}
			sum.finish([]capture.Input{{LastAt: end}}, analyzer.Stats{})
			var got []side
			var sockets int64
			for _, h := range sum.twAtEnd {
				var n int64
				var lastU int64
				for _, x := range want {
					if x.host.Addr == h.addr {
						n++
						lastU = max(lastU, x.u)
					}
				}
				if h.n != n || h.last != lastU {
					t.Errorf("seed %d list %d: host %s: %d sides, the last until %d; want %d, %d", seed, list, h.addr, h.n, h.last, n, lastU)
				}
				sockets += h.n
				for _, x := range h.sides {
					got = append(got, side{reassembly.AddrPort{Addr: h.addr, Port: x.port()}, x.flow(), x.side, x.until})
				}
			}
			if sockets != int64(len(want)) || sum.twSockets != sockets {
				t.Errorf("seed %d list %d: %d sockets (%d counted), want %d", seed, list, sockets, sum.twSockets, len(want))
			}
			w := want
			if list == listFirst {
				// The first maxTWSocketsHost of each host.
				w = nil
				for i, x := range want {
					if i < maxTWSocketsHost || want[i-maxTWSocketsHost].host.Addr != x.host.Addr {
						w = append(w, x)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("seed %d list %d: sides listed differ:\n got %v\nwant %v", seed, list, got, w)
			}
		}
	}
}

// TestStuckFirst checks that the text keeps the maxStuck stuck flows with
// the smallest ids, whatever order they come in, and counts them all.
func TestStuckFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 5))
	ids := r.Perm(500)
	sum := summary{list: listFirst}
	for _, id := range ids {
		sum.add(&analyzer.Flow{ID: id + 1, StuckFor: s, StuckSide: analyzer.Server})
	}
	sum.finish(nil, analyzer.Stats{})
	if sum.stuckN != 500 || len(sum.stuck) != maxStuck {
		t.Fatalf("%d stuck, %d kept; want 500, %d", sum.stuckN, len(sum.stuck), maxStuck)
	}
	for i, e := range sum.stuck {
		if e.flow != i+1 {
			t.Fatalf("stuck[%d] is flow %d, want %d", i, e.flow, i+1)
		}
	}
}
