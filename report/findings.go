package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"teardown/analyzer"
	"teardown/reassembly"
)

// The Linux default ephemeral port range (net.ipv4.ip_local_port_range).
const (
	EphemeralLow   = 32768
	EphemeralHigh  = 60999
	EphemeralPorts = EphemeralHigh - EphemeralLow + 1 // 28232
)

// maxFindingItems is how many items a finding lists; Finding.More counts
// the rest.
const maxFindingItems = 20

// maxPortItems is how many addresses the port-pressure findings list.
const maxPortItems = 5

// maxFindingFlows is how many flow ids an item cites.
const maxFindingFlows = 10

// Severity says how much a finding matters.
type Severity uint8

// The severities.
const (
	SeverityInfo    Severity = iota // info: context, nothing wrong by itself
	SeverityWarning                 // warning: worth a look
	SeverityProblem                 // problem: likely the cause of the incident
)

var severityNames = [...]string{"info", "warning", "problem"}

// String returns "info", "warning" or "problem".
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is an observation about the whole capture (every flow, not only
// the ones shown): what was seen, what it means and which knob or code
// change addresses it.
type Finding struct {
	Kind     string   // time-wait, port-pressure, close-wait, fin-wait-2, resets, fin-retransmit, reuse-in-time-wait
	Severity Severity // how much it matters
	Title    string   // one line: what was seen
	Meaning  string   // what it means
	Fix      string   // the knob or code change that addresses it
	Items    []FindingItem
	More     int // items left out of Items
}

// FindingItem is one host, endpoint or cause within a finding.
type FindingItem struct {
	Subject string // a host, an address:port, "client -> server"
	Count   int64  // flows or sockets
	Detail  string
	Flows   []int // up to 10 flow ids, ascending
}

// interval is a time span [start, end] in Unix ns.
type interval struct{ start, end int64 }

// findings accumulates, while flows stream through, what the findings
// (and, for html, the plots) need. It keeps no Flow: counters per host,
// endpoint or cause, the smallest flow ids of each, and, for the peaks,
// an occupancy (see there) of the TIME_WAIT spans per host, and of the
// port spans per client address and per client address and server
// endpoint, which holds the spans of the flows open around the capture
// time reached, less a TIME_WAIT length. Its size is bounded by the
// distinct hosts and endpoints and the connections open at once, not by
// the flows in the capture; only the html plots keep the TIME_WAIT spans
// and close times of every flow.
type findings struct {
	timeWait time.Duration
	plots    bool  // keep what the html plots draw
	lastAt   int64 // latest Flow.LastAt seen: capture time has reached it

	// startOrder says that the flows still to come start no earlier than
	// the last one (see Writer.InStartOrder); horizon is the latest horizon
	// given to the occupancies (see add).
	startOrder bool
	horizon    int64
	// lastStart, when not 0, is a time after which no span starts: the
	// capture's last timestamp, known once the flows come in start order.
	lastStart int64

	tw      map[reassembly.Addr]*twHost // TIME_WAIT per host address
	ports   map[portKey]*portPair       // port occupancy per server endpoint and client address
	clients map[reassembly.Addr]*clientPorts
	outside int // connections from a client port outside the ephemeral range
	stuck   map[stuckKey]*stuckGroup
	rsts    map[rstKey]*idGroup
	rstN    int
	fins    map[finKey]*idGroup
	finN    int
	lostACK int
	reuse   reuseTop
	vantage [4]int64 // flows per analyzer.Vantage

	// html only
	plotTW map[reassembly.Addr][]interval // TIME_WAIT spans per host
	closes []closeRec
}

type closeRec struct {
	at    int64
	class analyzer.Class
}

// flowIDs keeps the maxFindingFlows smallest distinct flow ids, ascending.
type flowIDs struct {
	ids [maxFindingFlows]int
	n   int
}

func (l *flowIDs) add(id int) {
	i, found := slices.BinarySearch(l.ids[:l.n], id)
	if found || i == maxFindingFlows {
		return
	}
	if l.n < maxFindingFlows {
		l.n++
	}
	copy(l.ids[i+1:l.n], l.ids[i:l.n-1])
	l.ids[i] = id
}

// list returns the ids as flowList would.
func (l *flowIDs) list() []int {
	if l.n == 0 {
		return nil
	}
	return slices.Clone(l.ids[:l.n])
}

// idGroup counts the flows of one finding item.
type idGroup struct {
	n   int64
	ids flowIDs
}

func (g *idGroup) add(id int) {
	g.n++
	g.ids.add(id)
}

// group returns m[k], made on first use.
func group[K comparable, V any](m *map[K]*V, k K) *V {
	if *m == nil {
		*m = make(map[K]*V)
	}
	v := (*m)[k]
	if v == nil {
		v = new(V)
		(*m)[k] = v
	}
	return v
}

// twHost is the TIME_WAIT bookkeeping of one host address.
type twHost struct {
	idGroup
	sides [2]int
	peak  occupancy // TIME_WAIT spans
}

// portKey is a server endpoint and a client address.
type portKey struct {
	server reassembly.AddrPort
	client reassembly.Addr
}

// portPair is the port occupancy between a client address and a server
// endpoint.
type portPair struct {
	idGroup
	occ occupancy
}

// clientPorts is the port bookkeeping of one client address.
type clientPorts struct {
	idGroup
	ports portSet // local ports seen
	occ   occupancy
}

// portSet is a set of ports: a bitmap in pages of 4096 ports, made as
// ports in them are added, so that a client with a few connections costs
// a few hundred bytes.
type portSet struct {
	pages [16]*[64]uint64
}

func (p *portSet) add(port uint16) {
	pg := p.pages[port>>12]
	if pg == nil {
		pg = new([64]uint64)
		p.pages[port>>12] = pg
	}
	pg[port>>6&63] |= 1 << (port & 63)
}

// len returns the number of ports in the set.
func (p *portSet) len() int {
	n := 0
	for _, pg := range p.pages {
		if pg != nil {
			for _, w := range pg {
				n += bits.OnesCount64(w)
			}
		}
	}
	return n
}

type stuckKey struct {
	state analyzer.State
	side  analyzer.Side
	host  reassembly.AddrPort // the port is 0 for a client
}

type stuckGroup struct {
	idGroup
	max int64
}

type rstKey struct {
	by    reassembly.Addr
	side  analyzer.Side
	cause string
}

type finKey struct {
	host  reassembly.AddrPort // the server endpoint
	class analyzer.Class
}

// reuseTop keeps the reuse items the finding lists: all count 1, so the
// first maxFindingItems by subject, detail and flow, and the counters.
type reuseTop struct {
	items       []FindingItem // sorted, at most maxFindingItems
	n           int
	reused      int
	late        int
	subject     []byte // scratch
	detailParts []string
}

func (r *reuseTop) add(f *analyzer.Flow) {
	r.n++
	reuse := f.Flags.Has(analyzer.FlagReuseInTimeWait)
	lateDup := f.Class == analyzer.ClassLateDuplicate
	if reuse {
		r.reused++
	}
	if lateDup {
		r.late++
	}
	r.subject = f.Client.AppendTo(r.subject[:0])
	r.subject = append(r.subject, " -> "...)
	r.subject = f.Server.AppendTo(r.subject)
	if len(r.items) == maxFindingItems && string(r.subject) > r.items[len(r.items)-1].Subject {
		return
	}
	what := r.detailParts[:0]
	if reuse {
		what = append(what, fmt.Sprintf("incarnation %d started within the previous one's TIME_WAIT", f.Incarnation))
	}
	if lateDup {
		what = append(what, "a segment of an earlier incarnation arrived")
	}
	if f.Flags.Has(analyzer.FlagRSTInTimeWait) {
		what = append(what, "an RST reached a side in TIME_WAIT")
	}
	it := FindingItem{Subject: string(r.subject), Count: 1, Detail: strings.Join(what, "; "), Flows: []int{f.ID}}
	clear(what)
	r.detailParts = what[:0]
	i, _ := slices.BinarySearchFunc(r.items, it, compareItems)
	if i == maxFindingItems {
		return
	}
	if len(r.items) == maxFindingItems {
		r.items = r.items[:maxFindingItems-1]
	}
	r.items = slices.Insert(r.items, i, it)
}

func (fs *findings) tw0() time.Duration {
	if fs.timeWait <= 0 {
		return 60 * time.Second
	}
	return fs.timeWait
}

// endOf returns the end of a span for the occupancies: end, or
// math.MaxInt64 when it comes after the last start. Such an end is swept
// only after every start, where it can no longer change a peak or its
// time, so the occupancies need not keep it: at the end of a capture
// that is most of the spans that come, the flows still waiting out
// TIME_WAIT.
func (fs *findings) endOf(end int64) int64 {
	if fs.lastStart != 0 && end > fs.lastStart {
		return math.MaxInt64
	}
	return end
}

// add records what the findings need from f.
func (fs *findings) add(f *analyzer.Flow) {
	tw := int64(fs.tw0())
	fs.lastAt = max(fs.lastAt, f.LastAt)
	// No span still to come ends before the horizon (see occupancy). Once
	// the flows come in start order none starts before this one either.
	h := fs.lastAt - tw - emitSlack
	if fs.startOrder {
		h = max(h, f.FirstAt)
	}
	if h > fs.horizon || fs.horizon == 0 {
		fs.horizon = h
	}
	horizon := fs.horizon
	fs.vantage[f.Vantage&3]++
	end := f.LastAt
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			h := endpoint(f, side).Addr
			t := group(&fs.tw, h)
			t.add(f.ID)
			t.sides[side]++
			t.peak.add(u-tw, fs.endOf(u), horizon)
			if fs.plots {
				if fs.plotTW == nil {
					fs.plotTW = make(map[reassembly.Addr][]interval)
				}
				fs.plotTW[h] = append(fs.plotTW[h], interval{u - tw, u})
			}
			end = max(end, u)
		}
	}
	end = fs.endOf(end)
	pp := group(&fs.ports, portKey{f.Server, f.Client.Addr})
	pp.add(f.ID)
	pp.occ.add(f.FirstAt, end, horizon)
	c := group(&fs.clients, f.Client.Addr)
	c.add(f.ID)
	c.ports.add(f.Client.Port)
	c.occ.add(f.FirstAt, end, horizon)
	if f.Client.Port < EphemeralLow || f.Client.Port > EphemeralHigh {
		fs.outside++
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		k := stuckKey{state: f.FinalState[side], side: side, host: endpoint(f, side)}
		if side == analyzer.Client {
			k.host.Port = 0
		}
		g := group(&fs.stuck, k)
		g.add(f.ID)
		g.max = max(g.max, f.StuckFor)
	}
	if r := f.Reset; r != nil {
		by := r.By & 1
		group(&fs.rsts, rstKey{by: endpoint(f, by).Addr, side: by, cause: r.Cause}).add(f.ID)
		fs.rstN++
	} else if f.Class == analyzer.ClassRefused {
		group(&fs.rsts, rstKey{by: f.Server.Addr, side: analyzer.Server, cause: "nothing listening"}).add(f.ID)
		fs.rstN++
	}
	switch {
	case f.Class == analyzer.ClassLostACK, f.Class == analyzer.ClassLostFIN, f.Class == analyzer.ClassFINRetransmit,
		f.Flags.Has(analyzer.FlagFINRetransmit):
		group(&fs.fins, finKey{host: f.Server, class: f.Class}).add(f.ID)
		fs.finN++
		if f.Class == analyzer.ClassLostACK {
			fs.lostACK++
		}
	}
	if f.Flags.Has(analyzer.FlagReuseInTimeWait) || f.Class == analyzer.ClassLateDuplicate || f.Flags.Has(analyzer.FlagRSTInTimeWait) {
		fs.reuse.add(f)
	}
	if fs.plots && f.Class != analyzer.ClassOpen {
		fs.closes = append(fs.closes, closeRec{at: closeTime(f, tw), class: f.Class})
	}
}

// closeTime is when a flow finished closing: when a side entered
// TIME_WAIT, or its last frame. It does not need the timeline, which the
// analyzer leaves out for flows that are not rendered.
func closeTime(f *analyzer.Flow, tw int64) int64 {
	at := int64(0)
	for _, u := range f.TimeWaitUntil {
		if u != 0 && (at == 0 || u-tw < at) {
			at = u - tw
		}
	}
	if at == 0 {
		at = f.LastAt
	}
	return at
}

// peak returns the largest number of intervals that overlap and the first
// time it is reached. An interval that ends when another starts does not
// overlap it.
func peak(spans []interval) (n int, at int64) {
	starts := make([]int64, len(spans))
	ends := make([]int64, len(spans))
	for i, s := range spans {
		starts[i], ends[i] = s.start, s.end
	}
	return peakOf(starts, ends)
}

// peakOf is peak for intervals given by their starts and ends, which it
// sorts.
func peakOf(starts, ends []int64) (n int, at int64) {
	slices.Sort(starts)
	slices.Sort(ends)
	cur, j := 0, 0
	for _, s := range starts {
		for j < len(ends) && ends[j] <= s {
			cur--
			j++
		}
		cur++
		if cur > n {
			n, at = cur, s
		}
	}
	return n, at
}

// limitItems sorts items by count (descending), then subject, and keeps
// maxFindingItems of them.
func limitItems(f *Finding) { limitItemsTo(f, maxFindingItems) }

func limitItemsTo(f *Finding, limit int) {
	slices.SortStableFunc(f.Items, compareItems)
	if len(f.Items) > limit {
		f.More = len(f.Items) - limit
		f.Items = f.Items[:limit]
	}
}

// compareItems orders finding items by count (descending), subject,
// detail and flows.
func compareItems(a, b FindingItem) int {
	return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Subject, b.Subject),
		strings.Compare(a.Detail, b.Detail), slices.Compare(a.Flows, b.Flows))
}

// shortTime formats a time of day for findings: "05:17:47.851Z".
func shortTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000Z")
}

func pct(n, of int) string {
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 2, 64) + "%"
}

// compute turns the records into findings, most severe first.
func (fs *findings) compute() []Finding {
	var out []Finding
	if f, ok := fs.timeWaitFinding(); ok {
		out = append(out, f)
	}
	out = append(out, fs.portFindings()...)
	out = append(out, fs.stuckFindings()...)
	if f, ok := fs.resetFinding(); ok {
		out = append(out, f)
	}
	if f, ok := fs.finFinding(); ok {
		out = append(out, f)
	}
	if f, ok := fs.reuseFinding(); ok {
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	return out
}

func (fs *findings) timeWaitFinding() (Finding, bool) {
	if len(fs.tw) == 0 {
		return Finding{}, false
	}
	f := Finding{
		Kind:     "time-wait",
		Severity: SeverityInfo,
		Meaning: fmt.Sprintf("The side that closes first holds TIME_WAIT for %s s (--time-wait; Linux: 60 s, fixed), "+
			"to re-ACK a FIN whose last ACK was lost and to let old segments die out before the 4-tuple is used again. "+
			"Each costs a little memory; on a client it also holds the local port for that 4-tuple, so many short "+
			"connections to one server can exhaust the ephemeral ports.", strings.TrimRight(strings.TrimRight(fmtSeconds(int64(fs.tw0())), "0"), ".")),
		Fix: "On a client: reuse connections (HTTP keep-alive, connection pools) instead of one connection per request; " +
			"net.ipv4.tcp_tw_reuse=1 lets new outgoing connections take over TIME_WAIT 4-tuples (TCP timestamps needed); " +
			"widen net.ipv4.ip_local_port_range. On a server: let the client close first (keep-alive, do not close() after " +
			"every response); net.ipv4.tcp_max_tw_buckets caps the number. Do not use SO_LINGER with a zero timeout to avoid " +
			"TIME_WAIT: it turns every close into an RST and can lose data. tcp_tw_recycle is gone since Linux 4.12.",
	}
	total := 0
	for addr, h := range fs.tw {
		total += int(h.n)
		n, at := h.peak.result()
		sides := h.sides
		role := "as client"
		switch {
		case sides[0] > 0 && sides[1] > 0:
			role = fmt.Sprintf("%d as client, %d as server", sides[0], sides[1])
		case sides[1] > 0:
			role = "as server"
		}
		f.Items = append(f.Items, FindingItem{
			Subject: addr.String(),
			Count:   h.n,
			Detail:  fmt.Sprintf("%s entered TIME_WAIT (%s); at most %d at once, at %s", plural(h.n, "socket"), role, n, shortTime(at)),
			Flows:   h.ids.list(),
		})
		if sides[0] > 0 && n*10 >= EphemeralPorts {
			f.Severity = SeverityWarning
		}
	}
	limitItems(&f)
	f.Title = fmt.Sprintf("TIME_WAIT: %s on %s", plural(int64(total), "socket"), plural(int64(len(fs.tw)), "host"))
	return f, true
}

func (fs *findings) portFindings() []Finding {
	if len(fs.ports) == 0 {
		return nil
	}
	// Per client address: local ports held (open or in the client's
	// TIME_WAIT) at once; per server endpoint: 4-tuples held at once from
	// its busiest client address.
	type server struct {
		idGroup
		clients        int
		busiest        reassembly.Addr
		bn             int
		bat            int64
		clientsStarted bool
	}
	byServer := map[reassembly.AddrPort]*server{}
	for k, pp := range fs.ports {
		sv := group(&byServer, k.server)
		if !sv.clientsStarted {
			sv.bn, sv.clientsStarted = -1, true
		}
		sv.clients++
		sv.n += pp.n
		for _, id := range pp.ids.ids[:pp.ids.n] {
			sv.ids.add(id)
		}
		n, at := pp.occ.result()
		if n > sv.bn || (n == sv.bn && k.client.Netip().Less(sv.busiest.Netip())) {
			sv.busiest, sv.bn, sv.bat = k.client, n, at
		}
	}

	worst := 0
	cf := Finding{Kind: "port-pressure"}
	for addr, c := range fs.clients {
		n, at := c.occ.result()
		worst = max(worst, n)
		cf.Items = append(cf.Items, FindingItem{
			Subject: addr.String(),
			Count:   int64(n),
			Detail: fmt.Sprintf("at most %s in use at once (%s of %d), at %s; %s, %s",
				plural(int64(n), "local port"), pct(n, EphemeralPorts), EphemeralPorts, shortTime(at), plural(c.n, "connection"), plural(int64(c.ports.len()), "distinct port")),
			Flows: c.ids.list(),
		})
	}
	outside := fs.outside
	limitItemsTo(&cf, maxPortItems)
	cf.Severity = portSeverity(worst)
	cf.Title = fmt.Sprintf("Ephemeral ports per client address: at most %d in use at once (%s of the Linux default range %d-%d)",
		worst, pct(worst, EphemeralPorts), EphemeralLow, EphemeralHigh)
	cf.Meaning = "A port counts as in use from the connection's first packet to its end, or to the end of the client's TIME_WAIT. " +
		"Linux picks local ports from net.ipv4.ip_local_port_range (32768-60999 by default, 28232 ports); connect() fails " +
		"with EADDRNOTAVAIL (\"Cannot assign requested address\") when every port to a destination is taken."
	if outside > 0 {
		cf.Meaning += fmt.Sprintf(" %s used a client port outside that range: those clients use another range (Windows: 49152-65535) or fixed ports.",
			plural(int64(outside), "connection"))
	}
	cf.Fix = "Reuse connections (keep-alive, pools) rather than opening one per request; widen net.ipv4.ip_local_port_range; " +
		"net.ipv4.tcp_tw_reuse=1 on the client lets it reuse ports still in TIME_WAIT; spread load over more server addresses or ports " +
		"(the limit is per client address and server address:port)."

	sf := Finding{Kind: "port-pressure"}
	sworst := 0
	for srv, sv := range byServer {
		sworst = max(sworst, sv.bn)
		sf.Items = append(sf.Items, FindingItem{
			Subject: srv.String(),
			Count:   int64(sv.bn),
			Detail: fmt.Sprintf("%s from %s; the busiest, %s, held at most %s at once (%s of %d), at %s",
				plural(sv.n, "connection"), plural(int64(sv.clients), "client address"), sv.busiest, plural(int64(sv.bn), "4-tuple"), pct(sv.bn, EphemeralPorts), EphemeralPorts, shortTime(sv.bat)),
			Flows: sv.ids.list(),
		})
	}
	limitItemsTo(&sf, maxPortItems)
	sf.Severity = portSeverity(sworst)
	sf.Title = fmt.Sprintf("Ephemeral ports per server address:port: at most %s from one client address at once (%s)", plural(int64(sworst), "4-tuple"), pct(sworst, EphemeralPorts))
	sf.Meaning = "One client address can hold at most 28232 connections to one server address:port with the default range; " +
		"a 4-tuple stays taken until the end of TIME_WAIT on either side."
	sf.Fix = cf.Fix
	return []Finding{cf, sf}
}

func portSeverity(n int) Severity {
	switch {
	case n*2 >= EphemeralPorts:
		return SeverityProblem
	case n*10 >= EphemeralPorts:
		return SeverityWarning
	}
	return SeverityInfo
}

func (fs *findings) stuckFindings() []Finding {
	var out []Finding
	for _, st := range []analyzer.State{analyzer.StateCloseWait, analyzer.StateFinWait2} {
		var total int64
		f := Finding{Severity: SeverityWarning}
		for k, g := range fs.stuck {
			if k.state != st {
				continue
			}
			total += g.n
			subject := k.host.Addr.String()
			if k.side == analyzer.Server {
				subject = k.host.String()
			}
			f.Items = append(f.Items, FindingItem{
				Subject: subject + " (" + k.side.String() + ")",
				Count:   g.n,
				Detail:  fmt.Sprintf("%s in %s when the capture ended, the longest for %s s", plural(g.n, "socket"), st, fmtSeconds(g.max)),
				Flows:   g.ids.list(),
			})
		}
		if total == 0 {
			continue
		}
		limitItems(&f)
		if st == analyzer.StateCloseWait {
			f.Kind = "close-wait"
			f.Severity = SeverityProblem
			f.Title = fmt.Sprintf("CLOSE_WAIT: %s where the peer closed and this side never did", plural(total, "flow"))
			f.Meaning = "The peer sent its FIN and the kernel acknowledged it, but the application never called close(): " +
				"the socket stays in CLOSE_WAIT until the process closes it or exits. Piling up CLOSE_WAIT is an application bug (a leaked socket, a missed EOF)."
			f.Fix = "Fix the application: when read() returns 0 (EOF) or an error, close() the socket, on every code path (defer/finally, " +
				"connection-pool eviction); add idle timeouts. SO_KEEPALIVE (net.ipv4.tcp_keepalive_time) lets the kernel error out " +
				"sockets whose peer is gone, which an application that still reads will notice. No sysctl closes CLOSE_WAIT for the application."
		} else {
			f.Kind = "fin-wait-2"
			f.Title = fmt.Sprintf("FIN_WAIT_2: %s where this side closed and the peer never did", plural(total, "flow"))
			f.Meaning = "This side's FIN was acknowledged, but the peer's application has not closed (its side is in CLOSE_WAIT): " +
				"the connection is half-closed and waits for the peer."
			f.Fix = "The fix is on the peer (see CLOSE_WAIT: close() on EOF). On this side, net.ipv4.tcp_fin_timeout (60 s) bounds " +
				"FIN_WAIT_2 for orphaned sockets (fully closed by the application); after shutdown(SHUT_WR) the application must time out itself."
		}
		out = append(out, f)
	}
	return out
}

// resetFixes says, per likely cause of an RST, what addresses it.
var resetFixes = map[string]string{
	"linger-0 abort": "the application sets SO_LINGER with a zero timeout (often to avoid TIME_WAIT): remove it and close() normally; " +
		"avoid TIME_WAIT by reusing connections or tcp_tw_reuse instead",
	"close with unread data": "the application closed with data still unread, which Linux answers with RST: read until EOF " +
		"(or shutdown(SHUT_WR) and drain) before close(); check the protocol framing (pipelined requests, unread bodies)",
	"data after close": "the peer kept sending after this side closed: the two sides disagree on who closes when; " +
		"half-close with shutdown(SHUT_WR) and drain, or make idle timeouts agree (the server's longer than the client's)",
	"nothing listening": "connection refused: no listener on the port (service down, wrong port), or a firewall answering with RST",
	"other":             "an RST the capture cannot attribute: look at middleboxes (firewall and load-balancer idle timeouts) and keepalive settings",
}

func (fs *findings) resetFinding() (Finding, bool) {
	if len(fs.rsts) == 0 {
		return Finding{}, false
	}
	f := Finding{
		Kind:     "resets",
		Severity: SeverityWarning,
		Title:    fmt.Sprintf("Resets: %s ended with an RST", plural(int64(fs.rstN), "flow")),
		Meaning: "An RST ends a connection at once: no TIME_WAIT, queued data discarded, and the peer's next read or write fails " +
			"with ECONNRESET (\"connection reset by peer\"). The cause is inferred from what came before the RST; " +
			"a linger-0 abort and a close with unread data look the same on the wire.",
	}
	causes := map[string]bool{}
	for k, g := range fs.rsts {
		causes[k.cause] = true
		cause := cmp.Or(k.cause, "other")
		f.Items = append(f.Items, FindingItem{
			Subject: k.by.String() + " (" + k.side.String() + ")",
			Count:   g.n,
			Detail:  "likely cause: " + cause,
			Flows:   g.ids.list(),
		})
	}
	limitItems(&f)
	var fixes []string
	for _, c := range slices.Sorted(maps.Keys(causes)) {
		fix, ok := resetFixes[c]
		if !ok {
			fix = resetFixes["other"]
		}
		fixes = append(fixes, cmp.Or(c, "other")+": "+fix+".")
	}
	f.Fix = strings.Join(slices.Compact(fixes), " ")
	return f, true
}

func (fs *findings) finFinding() (Finding, bool) {
	if len(fs.fins) == 0 {
		return Finding{}, false
	}
	f := Finding{
		Kind:     "fin-retransmit",
		Severity: SeverityInfo,
		Title:    fmt.Sprintf("FIN retransmissions: %s sent a FIN more than once (%d with the final ACK lost)", plural(int64(fs.finN), "flow"), fs.lostACK),
		Meaning: "A FIN was sent again because its ACK did not arrive in time: either the FIN or the ACK was lost. " +
			"TIME_WAIT exists for this: the closer re-ACKs the retransmitted FIN and restarts its timer. Occasional retransmissions " +
			"are normal; many point to packet loss on the path.",
		Fix: "Nothing to change in the endpoints. If frequent, look for loss on the path (interface errors, drops, congestion, " +
			"a middlebox dropping FINs). Do not shorten TIME_WAIT or use SO_LINGER 0 to get rid of it: a lost ACK would then be answered with an RST.",
	}
	for k, g := range fs.fins {
		detail := "FIN retransmitted; the capture cannot tell whether the FIN or the ACK was lost"
		switch k.class {
		case analyzer.ClassLostACK:
			detail = "the final ACK was lost, the FIN came again and was re-ACKed from TIME_WAIT"
		case analyzer.ClassLostFIN:
			detail = "the FIN itself was lost and sent again"
		case analyzer.ClassFINRetransmit:
		default:
			detail = "FIN retransmitted (class " + k.class.String() + ")"
		}
		f.Items = append(f.Items, FindingItem{
			Subject: k.host.String(),
			Count:   g.n,
			Detail:  detail,
			Flows:   g.ids.list(),
		})
	}
	limitItems(&f)
	return f, true
}

func (fs *findings) reuseFinding() (Finding, bool) {
	if fs.reuse.n == 0 {
		return Finding{}, false
	}
	f := Finding{
		Kind:     "reuse-in-time-wait",
		Severity: SeverityWarning,
		Meaning: "A new connection (new SYN) used a 5-tuple while its previous incarnation was still in TIME_WAIT. Linux allows it " +
			"on the connecting side with net.ipv4.tcp_tw_reuse (TCP timestamps needed) and on a listener when the SYN's " +
			"ISN or timestamp is higher. The risk is a late segment of the old connection landing in the new one " +
			"(old data accepted, or an old FIN/RST closing it); an RST reaching TIME_WAIT can end it early (RFC 1337).",
		Fix: "Keep TCP timestamps on (net.ipv4.tcp_timestamps=1: PAWS drops old segments); reuse connections instead of " +
			"reconnecting on the same ports; widen net.ipv4.ip_local_port_range so tuples repeat less often; never tcp_tw_recycle (removed in Linux 4.12, it broke clients behind NAT).",
	}
	r := &fs.reuse
	reused, late := r.reused, r.late
	f.Items = slices.Clone(r.items)
	f.More = r.n - len(r.items)
	if late > 0 {
		f.Severity = SeverityProblem
	}
	f.Title = fmt.Sprintf("5-tuple reuse inside TIME_WAIT: %s reused a tuple in TIME_WAIT, %s received a late duplicate",
		plural(int64(reused), "flow"), plural(int64(late), "flow"))
	return f, true
}

// renderFindingsText writes the findings for the text report.
func (w *Writer) renderFindingsText(b *bytes.Buffer, list []Finding) {
	if len(list) == 0 {
		return
	}
	b.WriteString("\nFindings\n")
	for _, f := range list {
		sev := f.Severity.String()
		switch f.Severity {
		case SeverityProblem:
			sev = w.paint(sgrRed, sev)
		case SeverityWarning:
			sev = w.paint(sgrYellow, sev)
		}
		fmt.Fprintf(b, "  [%s] %s\n", sev, Sanitize(f.Title))
		for _, it := range f.Items {
			fmt.Fprintf(b, "    %s  %s%s\n", Sanitize(it.Subject), Sanitize(it.Detail), flowsSuffix(it.Flows))
		}
		if f.More > 0 {
			fmt.Fprintf(b, "    %s %d more (see --format json)\n", w.ellipsis(), f.More)
		}
		b.WriteString(wrap("Meaning: "+Sanitize(f.Meaning), "    ", "      ", textWidth))
		b.WriteString(wrap("Fix: "+Sanitize(f.Fix), "    ", "      ", textWidth))
	}
}

// flowsSuffix cites flow ids: " (flows 1, 2)".
func flowsSuffix(ids []int) string {
	if len(ids) == 0 {
		return ""
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	if len(ids) == 1 {
		return " (flow " + s[0] + ")"
	}
	return " (flows " + strings.Join(s, ", ") + ")"
}

// jsonFinding is a finding in the json and ndjson output.
type jsonFinding struct {
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Title    string            `json:"title"`
	Meaning  string            `json:"meaning"`
	Fix      string            `json:"fix"`
	Items    []jsonFindingItem `json:"items"`
	More     int               `json:"more"`
}

type jsonFindingItem struct {
	Subject string `json:"subject"`
	Count   int64  `json:"count"`
	Detail  string `json:"detail"`
	Flows   []int  `json:"flows"`
}

func jsonFindings(list []Finding) []jsonFinding {
	out := make([]jsonFinding, 0, len(list))
	for _, f := range list {
		j := jsonFinding{Kind: f.Kind, Severity: f.Severity.String(), Title: f.Title, Meaning: f.Meaning, Fix: f.Fix,
			Items: make([]jsonFindingItem, 0, len(f.Items)), More: f.More}
		for _, it := range f.Items {
			ids := it.Flows
			if ids == nil {
				ids = []int{}
			}
			j.Items = append(j.Items, jsonFindingItem{Subject: it.Subject, Count: it.Count, Detail: it.Detail, Flows: ids})
		}
		out = append(out, j)
	}
	return out
}

// textWidth is the width the text report wraps prose at.
const textWidth = 100

// wrap breaks s at spaces into lines of at most width bytes (longer words
// stay whole), the first prefixed with first, the others with rest.
func wrap(s, first, rest string, width int) string {
	b := []byte(first)
	line := 0 // where the current line starts
	empty := true
	for _, word := range strings.Fields(s) {
		if !empty && len(b)-line+1+len(word) > width {
			b = append(b, '\n')
			line = len(b)
			b = append(b, rest...)
			empty = true
		}
		if !empty {
			b = append(b, ' ')
		}
		b = append(b, word...)
		empty = false
	}
	return string(append(b, '\n'))
}
