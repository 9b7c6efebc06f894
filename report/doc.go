// Package report renders teardown's verdicts: a text report for people, a
// JSON document and newline-delimited JSON for scripts.
//
// # Streaming
//
// A Writer receives flows one by one as the analyzer finalises them
// (WriteFlow) and the description of the inputs at the end (Close). It does
// not keep flows, so a huge capture streams:
//
//   - ndjson writes one line per selected flow as soon as it arrives and a
//     last line with the summary (see below).
//   - json writes one document whose flows are streamed too, so its keys
//     come in the order "schema_version", "flows", "inputs", "summary": the
//     inputs carry counters that are only known at the end.
//   - text prints the summary first and then one block per shown flow in id
//     order, as long as the rendered blocks fit in Options.TextBuffer
//     (8 MiB by default). Beyond that it says so, switches to streaming
//     (the blocks held so far, then every later one as it arrives) and the
//     summary comes last.
//
// In json and ndjson, flows appear in the order the analyzer emits them,
// which is the order their verdicts became final, not id order: sort by
// "id" if needed. The summary always counts every flow; Options.Filter
// only decides which flows are rendered.
//
// # JSON
//
// The document (SchemaVersion 1):
//
//	{"schema_version": 1, "flows": [FLOW...], "inputs": [INPUT...], "summary": SUMMARY, "findings": [FINDING...]}
//
// ndjson writes each flow as {"type":"flow", FLOW keys...} on its own line
// and ends with
//
//	{"type":"summary","schema_version":1,"inputs":[INPUT...],"summary":SUMMARY,"findings":[FINDING...]}
//
// so that .summary has the same shape in both formats. Every key below is
// always present: optional objects are null, lists are [] when empty.
//
// FLOW keys (teardown's API; keys are only ever added):
//
//	id              1-based, in order of first frame
//	stream          tcp.stream index as Wireshark numbers it (0-based)
//	client, server  "198.18.0.1:40000", "[2001:db8::1]:40000"
//	community_id    the Community ID v1 of the 5-tuple (seed 0), as Zeek, Suricata and Arkime log it
//	incarnation     1, 2, ... per 5-tuple
//	dir_guessed     true when no handshake was seen and client/server were guessed from the ports
//	class           four-way, simultaneous, rst-abort, rst-after-close, refused, lost-ack,
//	                lost-fin, fin-retransmit, late-duplicate, close-wait, fin-wait, open
//	flags           array of flag names, e.g. ["piggybacked-fin","half-close"]
//	active_closer   client, server, both, none
//	vantage         client, server, middle, unknown
//	vantage_why     the evidence for the vantage point
//	verdict         one sentence citing frames
//	first_frame, last_frame   a frame citation (below)
//	first_time, last_time     absolute times
//	duration        seconds
//	packets, bytes  {"client": N, "server": N}: segments and payload bytes sent by each side
//	final_state     {"client": STATE, "server": STATE}
//	time_wait       [{"side", "host", "until"}]: one entry per side that enters TIME_WAIT
//	                (two after a simultaneous close); until is capture time
//	stuck           null or {"side", "host", "state", "peer_state", "for"}: a side left in
//	                CLOSE_WAIT (or FIN_WAIT_2) when the capture ended, for seconds
//	reset           null or {"by", "frame", "cause", "evidence"}
//	late_duplicate  null or {"frame", "from_incarnation", "answer", "answer_frame"}
//	decisive        {"first_fin": CITATION, "rst": CITATION, ...}: the frames the verdict rests on
//	events          the timeline (below)
//
// Each event: "frame" (number), "file" (the input's name), "time"
// (absolute), "rel" (seconds since the flow's first frame), "direction"
// ("client->server" or "server->client"), "flags" (tcpdump style: "S",
// "S.", "F.", "R.", "P.", "."), "seq" and "ack" (relative to the ISNs, raw
// when no SYN was seen), "len", "win" (scaled when the scale is known),
// "tsval" and "tsecr" (omitted when zero), "notes" (array), "client_state"
// and "server_state" (after the segment, inferred at the capture point:
// ESTABLISHED, FIN_WAIT_1, TIME_WAIT, ...), "elided" (events omitted just
// before this one).
//
// INPUT: "name", "format" ("pcap", "pcapng", "+gzip" appended),
// "link_types", "frames", "tcp", "non_tcp", "fragments", "truncated",
// "first_time", "last_time" (null for an input without frames).
//
// SUMMARY: "flows" (all flows), "selected" (flows rendered after --class,
// --flow, --stream), "segments", "peak_open_flows", "capture_end" (the
// latest timestamp of any input), "classes" and "flags" (counts by name,
// every name present), "time_wait" ([{"flow", "side", "host", "until"}]:
// sockets still in TIME_WAIT at capture_end), "stuck" ([{"flow", "side",
// "host", "state", "peer", "peer_state", "for"}]).
//
// FINDING (see Finding; computed from every flow, selected or not):
// "kind" (time-wait, port-pressure, close-wait, fin-wait-2, resets,
// fin-retransmit, reuse-in-time-wait), "severity" (info, warning,
// problem), "title", "meaning", "fix", "items" ([{"subject", "count",
// "detail", "flows"}]), "more" (items left out).
//
// Frame citations: with one input a plain number (12); with several a
// string "FILE:FRAME" ("a.pcap:12"), FILE being the name as given on the
// command line; null when unknown. Frames are Wireshark's: 1-based, in
// file order. Absolute times are RFC 3339 UTC with nanoseconds
// ("2024-05-01T10:00:00.123456789Z"); relative times and durations are
// seconds as numbers with six decimals (1.250000).
//
// # Untrusted strings
//
// A capture is untrusted input. In text output every string that may come
// from it (file, interface and link names, notes, verdicts) goes through
// Sanitize, so no control character, escape sequence or bidi override
// reaches the terminal. JSON strings are escaped as encoding/json escapes
// them (quotes, backslashes, C0 controls, U+2028 and U+2029; invalid UTF-8
// becomes U+FFFD) and, beyond that, C1 controls and bidi formatting
// characters, which encoding/json would leave raw, become \uXXXX. Flows
// are written without reflection by the package's own encoder, byte for
// byte as encoding/json would write them; the rest (inputs, summary,
// findings) by encoding/json.
package report
