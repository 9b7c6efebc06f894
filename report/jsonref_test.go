package report

// The reflection-based encoding of a flow that the json and ndjson
// writers used before appendFlow: the reference appendFlow must match
// byte for byte (jsonflow_test.go).

import (
	"encoding/json"
	"strconv"

	"teardown/analyzer"
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

// refFlow encodes f the old way: the jsonFlow value through encoding/json
// (encode: no HTML escaping, escapeJSON afterwards), with "type":"flow"
// when typ is set.
func (w *Writer) refFlow(f *analyzer.Flow, typ bool, prefix, indent string) ([]byte, error) {
	j := w.jsonFlow(f)
	if typ {
		j.Type = "flow"
	}
	return encode(j, prefix, indent)
}
