package report

import (
	"bytes"
	"encoding/json"
	"fmt"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/reassembly"
)

type jsonInput struct {
	Name      string      `json:"name"`
	Format    string      `json:"format"`
	LinkTypes []string    `json:"link_types"`
	Frames    int64       `json:"frames"`
	TCP       int64       `json:"tcp"`
	NonTCP    int64       `json:"non_tcp"`
	Fragments int64       `json:"fragments"`
	Truncated int64       `json:"truncated"`
	Kernel    *jsonKernel `json:"kernel,omitempty"` // live capture only
	FirstTime *string     `json:"first_time"`
	LastTime  *string     `json:"last_time"`
}

type jsonSummary struct {
	Flows         int64            `json:"flows"`
	Selected      int64            `json:"selected"` // flows in the output after --class, --flow, --stream
	Segments      int64            `json:"segments"`
	PeakOpenFlows int              `json:"peak_open_flows"`
	CaptureEnd    *string          `json:"capture_end"`
	Classes       map[string]int64 `json:"classes"` // every class, zeros included
	Flags         map[string]int64 `json:"flags"`   // every flag, zeros included
	TimeWait      []jsonTWEntry    `json:"time_wait"`
	Stuck         []jsonStuckEntry `json:"stuck"`
}

type jsonTWEntry struct {
	Flow  int    `json:"flow"`
	Side  string `json:"side"`
	Host  string `json:"host"`
	Until string `json:"until"`
}

type jsonStuckEntry struct {
	Flow      int     `json:"flow"`
	Side      string  `json:"side"`
	Host      string  `json:"host"`
	State     string  `json:"state"`
	Peer      string  `json:"peer"`
	PeerState string  `json:"peer_state"`
	For       seconds `json:"for"`
}

type jsonNDSummary struct {
	Type          string        `json:"type"` // "summary"
	SchemaVersion int           `json:"schema_version"`
	Inputs        []jsonInput   `json:"inputs"`
	Summary       jsonSummary   `json:"summary"`
	Findings      []jsonFinding `json:"findings"`
}

// seconds is a duration in nanoseconds written as seconds with six
// decimals.
type seconds int64

func (s seconds) MarshalJSON() ([]byte, error) { return []byte(fmtSeconds(int64(s))), nil }

// fmtSeconds formats ns nanoseconds as seconds rounded to the microsecond:
// "1.250000", "-0.000001".
func fmtSeconds(ns int64) string {
	var b [32]byte
	return string(appendSeconds(b[:0], ns))
}

// fmtTime formats Unix nanoseconds as RFC 3339 UTC with nanoseconds.
func fmtTime(ns int64) string {
	var b [40]byte
	return string(appendTime(b[:0], ns))
}

func optTime(ns int64) *string {
	if ns == 0 {
		return nil
	}
	s := fmtTime(ns)
	return &s
}

func direction(s analyzer.Side) string {
	if s == analyzer.Client {
		return "client->server"
	}
	return "server->client"
}

func jsonInputs(inputs []capture.Input) []jsonInput {
	out := make([]jsonInput, 0, len(inputs))
	for _, in := range inputs {
		lt := in.LinkTypes
		if lt == nil {
			lt = []string{}
		}
		out = append(out, jsonInput{
			Name:      in.Name,
			Format:    in.Format,
			LinkTypes: lt,
			Frames:    in.Frames,
			TCP:       in.TCP,
			NonTCP:    in.NonTCP,
			Fragments: in.Fragments,
			Truncated: in.Truncated,
			Kernel:    jsonKernelStats(in.Live),
			FirstTime: optTime(in.FirstAt),
			LastTime:  optTime(in.LastAt),
		})
	}
	return out
}

func (w *Writer) jsonSummary() jsonSummary {
	s := &w.sum
	j := jsonSummary{
		Flows:         s.flows,
		Selected:      s.selected,
		Segments:      s.segments,
		PeakOpenFlows: s.peakOpen,
		CaptureEnd:    optTime(s.end),
		Classes:       map[string]int64{},
		Flags:         map[string]int64{},
		TimeWait:      []jsonTWEntry{},
		Stuck:         []jsonStuckEntry{},
	}
	for _, c := range analyzer.Classes() {
		j.Classes[c.String()] = 0
	}
	for _, n := range analyzer.FlagNames() {
		j.Flags[n] = 0
	}
	for c, v := range s.classes {
		j.Classes[c.String()] += v
	}
	for n, v := range s.flags {
		j.Flags[n] += v
	}
	for _, h := range s.twAtEnd {
		for _, e := range h.sides {
			host := reassembly.AddrPort{Addr: h.addr, Port: e.port()}
			j.TimeWait = append(j.TimeWait, jsonTWEntry{Flow: e.flow(), Side: e.side.String(), Host: host.String(), Until: fmtTime(e.until)})
		}
	}
	for _, e := range s.stuck {
		j.Stuck = append(j.Stuck, jsonStuckEntry{
			Flow: e.flow, Side: e.side.String(), Host: e.host.String(), State: e.state.String(),
			Peer: e.peer.String(), PeerState: e.peerState.String(), For: seconds(e.dur),
		})
	}
	return j
}

// encode marshals v without HTML escaping, indented with prefix and indent
// when indent is not empty, without a trailing newline, and with the runes
// encoding/json leaves raw but a terminal must not see escaped.
func encode(v any, prefix, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent(prefix, indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return escapeJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

func (w *Writer) encode(v any, prefix, indent string) []byte {
	b, err := encode(v, prefix, indent)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("encoding report: %w", err)
	}
	return b
}

func (w *Writer) writeNDJSONFlow(f *analyzer.Flow) {
	b := w.appendFlow(w.jsonBuf[:0], f, true, "", "")
	b = append(b, '\n')
	w.jsonBuf = b
	w.write(b)
}

func (w *Writer) closeNDJSON(inputs []capture.Input, _ analyzer.Stats) {
	b := w.encode(jsonNDSummary{
		Type:          "summary",
		SchemaVersion: SchemaVersion,
		Inputs:        jsonInputs(inputs),
		Summary:       w.jsonSummary(),
		Findings:      jsonFindings(w.findings),
	}, "", "")
	w.write(append(b, '\n'))
}

func (w *Writer) startJSON() {
	if !w.jsonStarted {
		w.jsonStarted = true
		w.write(fmt.Appendf(nil, "{\n  \"schema_version\": %d,\n  \"flows\": [", SchemaVersion))
	}
}

func (w *Writer) writeJSONFlow(f *analyzer.Flow) {
	w.startJSON()
	b := w.jsonBuf[:0]
	if w.jsonFlows > 0 {
		b = append(b, ',')
	}
	b = append(b, "\n    "...)
	b = w.appendFlow(b, f, false, "    ", "  ")
	w.jsonFlows++
	w.jsonBuf = b
	w.write(b)
}

func (w *Writer) closeJSON(inputs []capture.Input, _ analyzer.Stats) {
	w.startJSON()
	var buf bytes.Buffer
	if w.jsonFlows > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("],\n  \"inputs\": ")
	buf.Write(w.encode(jsonInputs(inputs), "  ", "  "))
	buf.WriteString(",\n  \"summary\": ")
	buf.Write(w.encode(w.jsonSummary(), "  ", "  "))
	buf.WriteString(",\n  \"findings\": ")
	buf.Write(w.encode(jsonFindings(w.findings), "  ", "  "))
	buf.WriteString("\n}\n")
	w.write(buf.Bytes())
}
