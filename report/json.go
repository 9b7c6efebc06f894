package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"teardown/analyzer"
	"teardown/capture"
)

// jsonFlow is one flow in the json and ndjson output (the package
// documentation lists its keys). Its keys are API:
// keep them, add new ones, bump SchemaVersion if one changes meaning.
// Optional parts (reset, late_duplicate) are null when absent, lists are
// [] when empty, so every key is always present.
type jsonFlow struct {
	Type          string          `json:"type,omitempty"` // ndjson only: "flow"
	ID            int             `json:"id"`
	Stream        int             `json:"stream"`
	Client        string          `json:"client"`       // "198.18.0.1:40000", "[2001:db8::1]:40000"
	CommunityID   string          `json:"community_id"` // Community ID v1, seed 0
	Server        string          `json:"server"`
	Incarnation   int             `json:"incarnation"`
	DirGuessed    bool            `json:"dir_guessed"` // no handshake: client and server guessed from the ports
	Class         string          `json:"class"`
	Flags         []string        `json:"flags"`
	ActiveCloser  string          `json:"active_closer"` // client, server, both, none
	Vantage       string          `json:"vantage"`       // client, server, middle, unknown
	VantageWhy    string          `json:"vantage_why"`
	Verdict       string          `json:"verdict"`
	FirstFrame    cite            `json:"first_frame"`
	LastFrame     cite            `json:"last_frame"`
	FirstTime     string          `json:"first_time"`
	LastTime      string          `json:"last_time"`
	Duration      seconds         `json:"duration"`
	Packets       sides[int64]    `json:"packets"`
	Bytes         sides[uint64]   `json:"bytes"`
	FinalState    sides[string]   `json:"final_state"`
	TimeWait      []jsonTimeWait  `json:"time_wait"` // one entry per side holding TIME_WAIT
	Stuck         *jsonStuck      `json:"stuck"`
	Reset         *jsonReset      `json:"reset"`
	LateDuplicate *jsonLateDup    `json:"late_duplicate"`
	Decisive      map[string]cite `json:"decisive"` // "first_fin", "rst", ...
	Events        []jsonEvent     `json:"events"`
}

type sides[T any] struct {
	Client T `json:"client"`
	Server T `json:"server"`
}

type jsonTimeWait struct {
	Side  string `json:"side"`
	Host  string `json:"host"`
	Until string `json:"until"`
}

type jsonStuck struct {
	Side      string  `json:"side"`
	Host      string  `json:"host"`
	State     string  `json:"state"`
	PeerState string  `json:"peer_state"`
	For       seconds `json:"for"`
}

type jsonReset struct {
	By       string `json:"by"`
	Frame    cite   `json:"frame"`
	Cause    string `json:"cause"`
	Evidence string `json:"evidence"`
}

type jsonLateDup struct {
	Frame           cite   `json:"frame"`
	FromIncarnation int    `json:"from_incarnation"`
	Answer          string `json:"answer"`
	AnswerFrame     cite   `json:"answer_frame"`
}

type jsonEvent struct {
	Frame       int64    `json:"frame"`
	File        string   `json:"file"`
	Time        string   `json:"time"`
	Rel         seconds  `json:"rel"`
	Direction   string   `json:"direction"` // "client->server", "server->client"
	Flags       string   `json:"flags"`     // tcpdump style: "S", "S.", "F.", "R.", "P.", "."
	Seq         uint32   `json:"seq"`
	Ack         uint32   `json:"ack"`
	Len         uint32   `json:"len"`
	Win         uint32   `json:"win"`
	TSval       uint32   `json:"tsval,omitempty"`
	TSecr       uint32   `json:"tsecr,omitempty"`
	Notes       []string `json:"notes"`
	ClientState string   `json:"client_state"`
	ServerState string   `json:"server_state"`
	Elided      int      `json:"elided"` // events omitted just before this one
}

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

// cite is a frame reference in JSON: a number with one input, a
// "FILE:FRAME" string with several, null when unknown.
type cite struct {
	name  string // set when citing with the file
	frame int64
}

func (c cite) MarshalJSON() ([]byte, error) {
	if c.frame <= 0 {
		return []byte("null"), nil
	}
	if c.name != "" {
		return json.Marshal(c.name + ":" + strconv.FormatInt(c.frame, 10))
	}
	return strconv.AppendInt(nil, c.frame, 10), nil
}

// seconds is a duration in nanoseconds written as seconds with six
// decimals.
type seconds int64

func (s seconds) MarshalJSON() ([]byte, error) { return []byte(fmtSeconds(int64(s))), nil }

// fmtSeconds formats ns nanoseconds as seconds rounded to the microsecond:
// "1.250000", "-0.000001".
func fmtSeconds(ns int64) string {
	neg := ns < 0
	u := uint64(ns)
	if neg {
		u = -u
	}
	us := (u + 500) / 1000
	s := fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
	if neg && us != 0 {
		s = "-" + s
	}
	return s
}

// fmtTime formats Unix nanoseconds as RFC 3339 UTC with nanoseconds.
func fmtTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
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

func (w *Writer) jcite(r analyzer.FrameRef) cite {
	c := cite{frame: r.Frame}
	if w.multi() {
		c.name = w.inputName(r.File)
	}
	return c
}

func (w *Writer) jsonFlow(f *analyzer.Flow) *jsonFlow {
	j := &jsonFlow{
		ID:           f.ID,
		Stream:       f.Stream,
		Client:       f.Client.String(),
		CommunityID:  flowCommunityID(f),
		Server:       f.Server.String(),
		Incarnation:  f.Incarnation,
		DirGuessed:   f.DirGuessed,
		Class:        f.Class.String(),
		Flags:        f.Flags.Strings(),
		ActiveCloser: f.ActiveCloser.String(),
		Vantage:      f.Vantage.String(),
		VantageWhy:   f.VantageWhy,
		Verdict:      f.Verdict,
		FirstFrame:   w.jcite(f.First),
		LastFrame:    w.jcite(f.Last),
		FirstTime:    fmtTime(f.FirstAt),
		LastTime:     fmtTime(f.LastAt),
		Duration:     seconds(f.LastAt - f.FirstAt),
		Packets:      sides[int64]{f.Packets[0], f.Packets[1]},
		Bytes:        sides[uint64]{f.Bytes[0], f.Bytes[1]},
		FinalState:   sides[string]{f.FinalState[0].String(), f.FinalState[1].String()},
		TimeWait:     []jsonTimeWait{},
		Decisive:     map[string]cite{},
		Events:       make([]jsonEvent, 0, len(f.Events)),
	}
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			j.TimeWait = append(j.TimeWait, jsonTimeWait{
				Side:  side.String(),
				Host:  endpoint(f, side).String(),
				Until: fmtTime(u),
			})
		}
	}
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		j.Stuck = &jsonStuck{
			Side:      side.String(),
			Host:      endpoint(f, side).String(),
			State:     f.FinalState[side].String(),
			PeerState: f.FinalState[side.Other()].String(),
			For:       seconds(f.StuckFor),
		}
	}
	if r := f.Reset; r != nil {
		j.Reset = &jsonReset{By: (r.By & 1).String(), Frame: w.jcite(r.Frame), Cause: r.Cause, Evidence: r.Evidence}
	}
	if d := f.LateDuplicate; d != nil {
		j.LateDuplicate = &jsonLateDup{Frame: w.jcite(d.Frame), FromIncarnation: d.FromIncarnation, Answer: d.Answer}
		if d.AnswerFrame != nil {
			j.LateDuplicate.AnswerFrame = w.jcite(*d.AnswerFrame)
		}
	}
	for k, r := range f.Decisive {
		j.Decisive[k] = w.jcite(r)
	}
	for i := range f.Events {
		e := &f.Events[i]
		notes := e.Notes
		if notes == nil {
			notes = []string{}
		}
		j.Events = append(j.Events, jsonEvent{
			Frame:       e.Frame,
			File:        w.inputName(e.File),
			Time:        fmtTime(e.At),
			Rel:         seconds(e.Rel),
			Direction:   direction(e.From),
			Flags:       e.Flags.String(),
			Seq:         e.Seq,
			Ack:         e.Ack,
			Len:         e.Len,
			Win:         e.Win,
			TSval:       e.TSval,
			TSecr:       e.TSecr,
			Notes:       notes,
			ClientState: e.Client.String(),
			ServerState: e.Server.String(),
			Elided:      e.Elided,
		})
	}
	return j
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
	for _, e := range s.twAtEnd {
		j.TimeWait = append(j.TimeWait, jsonTWEntry{Flow: e.flow, Side: e.side.String(), Host: e.host.String(), Until: fmtTime(e.until)})
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
	j := w.jsonFlow(f)
	j.Type = "flow"
	b := w.encode(j, "", "")
	w.write(append(b, '\n'))
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
	b := w.encode(w.jsonFlow(f), "    ", "  ")
	var buf bytes.Buffer
	if w.jsonFlows > 0 {
		buf.WriteByte(',')
	}
	buf.WriteString("\n    ")
	buf.Write(b)
	w.jsonFlows++
	w.write(buf.Bytes())
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
