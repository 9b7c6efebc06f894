package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
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

// occupancy is the time a flow holds its 4-tuple.
type occupancy struct {
	client reassembly.AddrPort
	server reassembly.AddrPort
	span   interval
	flow   int
}

type rstRec struct {
	by    reassembly.Addr
	side  analyzer.Side
	cause string
	class analyzer.Class
	flow  int
}

type finRec struct {
	host  reassembly.AddrPort // the server endpoint
	class analyzer.Class
	flow  int
}

type closeRec struct {
	at    int64
	class analyzer.Class
}

type flowRef struct {
	flow int
	key  string
}

// findings accumulates, while flows stream through, the compact per-flow
// records the findings and the HTML plots need. It keeps no Flow.
type findings struct {
	timeWait time.Duration
	tw       map[reassembly.Addr][]twSpan // TIME_WAIT per host address
	occ      []occupancy
	stuck    []stuckRec
	rsts     []rstRec
	fins     []finRec
	reuse    []reuseRec
	closes   []closeRec
	vantage  [4]int64 // flows per analyzer.Vantage
}

type twSpan struct {
	span interval
	side analyzer.Side
	flow int
}

type stuckRec struct {
	host  reassembly.AddrPort
	side  analyzer.Side
	state analyzer.State
	peer  analyzer.State
	dur   int64
	flow  int
}

type reuseRec struct {
	client, server reassembly.AddrPort
	incarnation    int
	lateDup        bool
	rstInTW        bool
	reuse          bool
	flow           int
}

func (fs *findings) tw0() time.Duration {
	if fs.timeWait <= 0 {
		return 60 * time.Second
	}
	return fs.timeWait
}

// add records what the findings need from f.
func (fs *findings) add(f *analyzer.Flow) {
	if fs.tw == nil {
		fs.tw = make(map[reassembly.Addr][]twSpan)
	}
	tw := int64(fs.tw0())
	fs.vantage[f.Vantage&3]++
	end := f.LastAt
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			h := endpoint(f, side)
			fs.tw[h.Addr] = append(fs.tw[h.Addr], twSpan{span: interval{u - tw, u}, side: side, flow: f.ID})
			end = max(end, u)
		}
	}
	fs.occ = append(fs.occ, occupancy{client: f.Client, server: f.Server, span: interval{f.FirstAt, end}, flow: f.ID})
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		fs.stuck = append(fs.stuck, stuckRec{
			host: endpoint(f, side), side: side, state: f.FinalState[side],
			peer: f.FinalState[side.Other()], dur: f.StuckFor, flow: f.ID,
		})
	}
	if r := f.Reset; r != nil {
		by := r.By & 1
		fs.rsts = append(fs.rsts, rstRec{by: endpoint(f, by).Addr, side: by, cause: r.Cause, class: f.Class, flow: f.ID})
	} else if f.Class == analyzer.ClassRefused {
		fs.rsts = append(fs.rsts, rstRec{by: f.Server.Addr, side: analyzer.Server, cause: "nothing listening", class: f.Class, flow: f.ID})
	}
	switch {
	case f.Class == analyzer.ClassLostACK, f.Class == analyzer.ClassLostFIN, f.Class == analyzer.ClassFINRetransmit,
		f.Flags.Has(analyzer.FlagFINRetransmit):
		fs.fins = append(fs.fins, finRec{host: f.Server, class: f.Class, flow: f.ID})
	}
	if f.Flags.Has(analyzer.FlagReuseInTimeWait) || f.Class == analyzer.ClassLateDuplicate || f.Flags.Has(analyzer.FlagRSTInTimeWait) {
		fs.reuse = append(fs.reuse, reuseRec{
			client: f.Client, server: f.Server, incarnation: f.Incarnation,
			lateDup: f.Class == analyzer.ClassLateDuplicate, rstInTW: f.Flags.Has(analyzer.FlagRSTInTimeWait),
			reuse: f.Flags.Has(analyzer.FlagReuseInTimeWait), flow: f.ID,
		})
	}
	if f.Class != analyzer.ClassOpen {
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
	type edge struct {
		at int64
		d  int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		edges = append(edges, edge{s.start, +1}, edge{s.end, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.d, b.d)) })
	cur := 0
	for _, e := range edges {
		cur += e.d
		if cur > n {
			n, at = cur, e.at
		}
	}
	return n, at
}

// flowList returns up to maxFindingFlows ids, ascending.
func flowList(ids []int) []int {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > maxFindingFlows {
		ids = ids[:maxFindingFlows]
	}
	return ids
}

// limitItems sorts items by count (descending), then subject, and keeps
// maxFindingItems of them.
func limitItems(f *Finding) { limitItemsTo(f, maxFindingItems) }

func limitItemsTo(f *Finding, limit int) {
	slices.SortStableFunc(f.Items, func(a, b FindingItem) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Subject, b.Subject),
			strings.Compare(a.Detail, b.Detail), slices.Compare(a.Flows, b.Flows))
	})
	if len(f.Items) > limit {
		f.More = len(f.Items) - limit
		f.Items = f.Items[:limit]
	}
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
	tw := fs.tw0()
	f := Finding{
		Kind:     "time-wait",
		Severity: SeverityInfo,
		Meaning: fmt.Sprintf("The side that closes first holds TIME_WAIT for %s s (--time-wait; Linux: 60 s, fixed), "+
			"to re-ACK a FIN whose last ACK was lost and to let old segments die out before the 4-tuple is used again. "+
			"Each costs a little memory; on a client it also holds the local port for that 4-tuple, so many short "+
			"connections to one server can exhaust the ephemeral ports.", strings.TrimRight(strings.TrimRight(fmtSeconds(int64(tw)), "0"), ".")),
		Fix: "On a client: reuse connections (HTTP keep-alive, connection pools) instead of one connection per request; " +
			"net.ipv4.tcp_tw_reuse=1 lets new outgoing connections take over TIME_WAIT 4-tuples (TCP timestamps needed); " +
			"widen net.ipv4.ip_local_port_range. On a server: let the client close first (keep-alive, do not close() after " +
			"every response); net.ipv4.tcp_max_tw_buckets caps the number. Do not use SO_LINGER with a zero timeout to avoid " +
			"TIME_WAIT: it turns every close into an RST and can lose data. tcp_tw_recycle is gone since Linux 4.12.",
	}
	total := 0
	for _, addr := range slices.SortedFunc(maps.Keys(fs.tw), func(a, b reassembly.Addr) int {
		return compareAddrPort(reassembly.AddrPort{Addr: a}, reassembly.AddrPort{Addr: b})
	}) {
		spans := fs.tw[addr]
		ivs := make([]interval, len(spans))
		ids := make([]int, len(spans))
		var sides [2]int
		for i, s := range spans {
			ivs[i], ids[i] = s.span, s.flow
			sides[s.side]++
		}
		total += len(spans)
		n, at := peak(ivs)
		role := "as client"
		switch {
		case sides[0] > 0 && sides[1] > 0:
			role = fmt.Sprintf("%d as client, %d as server", sides[0], sides[1])
		case sides[1] > 0:
			role = "as server"
		}
		f.Items = append(f.Items, FindingItem{
			Subject: addr.String(),
			Count:   int64(len(spans)),
			Detail:  fmt.Sprintf("%s entered TIME_WAIT (%s); at most %d at once, at %s", plural(int64(len(spans)), "socket"), role, n, shortTime(at)),
			Flows:   flowList(ids),
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
	if len(fs.occ) == 0 {
		return nil
	}
	// Per client address: local ports held (open or in the client's
	// TIME_WAIT) at once; per server endpoint: 4-tuples held at once from
	// its busiest client address.
	byClient := map[reassembly.Addr][]occupancy{}
	for _, o := range fs.occ {
		byClient[o.client.Addr] = append(byClient[o.client.Addr], o)
	}
	byServer := map[reassembly.AddrPort]map[reassembly.Addr][]occupancy{}
	for _, o := range fs.occ {
		m := byServer[o.server]
		if m == nil {
			m = map[reassembly.Addr][]occupancy{}
			byServer[o.server] = m
		}
		m[o.client.Addr] = append(m[o.client.Addr], o)
	}

	worst := 0
	outside := 0
	cf := Finding{Kind: "port-pressure"}
	for addr, occs := range byClient {
		ivs := make([]interval, len(occs))
		ids := make([]int, len(occs))
		ports := map[uint16]bool{}
		for i, o := range occs {
			ivs[i], ids[i] = o.span, o.flow
			ports[o.client.Port] = true
			if o.client.Port < EphemeralLow || o.client.Port > EphemeralHigh {
				outside++
			}
		}
		n, at := peak(ivs)
		worst = max(worst, n)
		cf.Items = append(cf.Items, FindingItem{
			Subject: addr.String(),
			Count:   int64(n),
			Detail: fmt.Sprintf("at most %s in use at once (%s of %d), at %s; %s, %s",
				plural(int64(n), "local port"), pct(n, EphemeralPorts), EphemeralPorts, shortTime(at), plural(int64(len(occs)), "connection"), plural(int64(len(ports)), "distinct port")),
			Flows: flowList(ids),
		})
	}
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
	for srv, m := range byServer {
		var busiest reassembly.Addr
		bn, bat, total := -1, int64(0), 0
		var ids []int
		for caddr, occs := range m {
			ivs := make([]interval, len(occs))
			for i, o := range occs {
				ivs[i] = o.span
				ids = append(ids, o.flow)
			}
			total += len(occs)
			n, at := peak(ivs)
			if n > bn || (n == bn && caddr.Netip().Less(busiest.Netip())) {
				busiest, bn, bat = caddr, n, at
			}
		}
		sworst = max(sworst, bn)
		sf.Items = append(sf.Items, FindingItem{
			Subject: srv.String(),
			Count:   int64(bn),
			Detail: fmt.Sprintf("%s from %s; the busiest, %s, held at most %s at once (%s of %d), at %s",
				plural(int64(total), "connection"), plural(int64(len(m)), "client address"), busiest, plural(int64(bn), "4-tuple"), pct(bn, EphemeralPorts), EphemeralPorts, shortTime(bat)),
			Flows: flowList(ids),
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
		type group struct {
			n    int64
			max  int64
			ids  []int
			peer analyzer.State
		}
		groups := map[string]*group{}
		total := 0
		for _, r := range fs.stuck {
			if r.state != st {
				continue
			}
			total++
			subject := r.host.Addr.String()
			if r.side == analyzer.Server {
				subject = r.host.String()
			}
			subject += " (" + r.side.String() + ")"
			g := groups[subject]
			if g == nil {
				g = &group{peer: r.peer}
				groups[subject] = g
			}
			g.n++
			g.ids = append(g.ids, r.flow)
			g.max = max(g.max, r.dur)
		}
		if total == 0 {
			continue
		}
		f := Finding{Severity: SeverityWarning}
		for subject, g := range groups {
			f.Items = append(f.Items, FindingItem{
				Subject: subject,
				Count:   g.n,
				Detail:  fmt.Sprintf("%s in %s when the capture ended, the longest for %s s", plural(g.n, "socket"), st, fmtSeconds(g.max)),
				Flows:   flowList(g.ids),
			})
		}
		limitItems(&f)
		if st == analyzer.StateCloseWait {
			f.Kind = "close-wait"
			f.Severity = SeverityProblem
			f.Title = fmt.Sprintf("CLOSE_WAIT: %s where the peer closed and this side never did", plural(int64(total), "flow"))
			f.Meaning = "The peer sent its FIN and the kernel acknowledged it, but the application never called close(): " +
				"the socket stays in CLOSE_WAIT until the process closes it or exits. Piling up CLOSE_WAIT is an application bug (a leaked socket, a missed EOF)."
			f.Fix = "Fix the application: when read() returns 0 (EOF) or an error, close() the socket, on every code path (defer/finally, " +
				"connection-pool eviction); add idle timeouts. SO_KEEPALIVE (net.ipv4.tcp_keepalive_time) lets the kernel error out " +
				"sockets whose peer is gone, which an application that still reads will notice. No sysctl closes CLOSE_WAIT for the application."
		} else {
			f.Kind = "fin-wait-2"
			f.Title = fmt.Sprintf("FIN_WAIT_2: %s where this side closed and the peer never did", plural(int64(total), "flow"))
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
	type key struct {
		by    reassembly.Addr
		side  analyzer.Side
		cause string
	}
	groups := map[key][]int{}
	causes := map[string]bool{}
	for _, r := range fs.rsts {
		k := key{r.by, r.side, r.cause}
		groups[k] = append(groups[k], r.flow)
		causes[r.cause] = true
	}
	f := Finding{
		Kind:     "resets",
		Severity: SeverityWarning,
		Title:    fmt.Sprintf("Resets: %s ended with an RST", plural(int64(len(fs.rsts)), "flow")),
		Meaning: "An RST ends a connection at once: no TIME_WAIT, queued data discarded, and the peer's next read or write fails " +
			"with ECONNRESET (\"connection reset by peer\"). The cause is inferred from what came before the RST; " +
			"a linger-0 abort and a close with unread data look the same on the wire.",
	}
	for k, ids := range groups {
		cause := cmp.Or(k.cause, "other")
		f.Items = append(f.Items, FindingItem{
			Subject: k.by.String() + " (" + k.side.String() + ")",
			Count:   int64(len(ids)),
			Detail:  "likely cause: " + cause,
			Flows:   flowList(ids),
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
	type key struct {
		host  reassembly.AddrPort
		class analyzer.Class
	}
	groups := map[key][]int{}
	var lostACK int
	for _, r := range fs.fins {
		k := key{r.host, r.class}
		groups[k] = append(groups[k], r.flow)
		if r.class == analyzer.ClassLostACK {
			lostACK++
		}
	}
	f := Finding{
		Kind:     "fin-retransmit",
		Severity: SeverityInfo,
		Title:    fmt.Sprintf("FIN retransmissions: %s sent a FIN more than once (%d with the final ACK lost)", plural(int64(len(fs.fins)), "flow"), lostACK),
		Meaning: "A FIN was sent again because its ACK did not arrive in time: either the FIN or the ACK was lost. " +
			"TIME_WAIT exists for this: the closer re-ACKs the retransmitted FIN and restarts its timer. Occasional retransmissions " +
			"are normal; many point to packet loss on the path.",
		Fix: "Nothing to change in the endpoints. If frequent, look for loss on the path (interface errors, drops, congestion, " +
			"a middlebox dropping FINs). Do not shorten TIME_WAIT or use SO_LINGER 0 to get rid of it: a lost ACK would then be answered with an RST.",
	}
	for k, ids := range groups {
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
			Count:   int64(len(ids)),
			Detail:  detail,
			Flows:   flowList(ids),
		})
	}
	limitItems(&f)
	return f, true
}

func (fs *findings) reuseFinding() (Finding, bool) {
	if len(fs.reuse) == 0 {
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
	var reused, late int
	for _, r := range fs.reuse {
		var what []string
		if r.reuse {
			reused++
			what = append(what, fmt.Sprintf("incarnation %d started within the previous one's TIME_WAIT", r.incarnation))
		}
		if r.lateDup {
			late++
			what = append(what, "a segment of an earlier incarnation arrived")
		}
		if r.rstInTW {
			what = append(what, "an RST reached a side in TIME_WAIT")
		}
		f.Items = append(f.Items, FindingItem{
			Subject: r.client.String() + " -> " + r.server.String(),
			Count:   1,
			Detail:  strings.Join(what, "; "),
			Flows:   []int{r.flow},
		})
	}
	if late > 0 {
		f.Severity = SeverityProblem
	}
	limitItems(&f)
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
	var b strings.Builder
	line := first
	empty := true
	for _, word := range strings.Fields(s) {
		if !empty && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}
