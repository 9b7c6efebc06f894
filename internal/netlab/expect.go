//go:build linux

package netlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
)

// Expectation is the content of a NAME.expect.json file: the verdict every
// flow incarnation of the capture NAME must get. The generator derives it
// from how the scenario was built and names the decisive frames it found
// in the capture it wrote.
type Expectation struct {
	Capture     string `json:"capture"`     // file name of the capture, beside the expectation
	Scenario    string `json:"scenario"`    // scenario that produced it (netlab -list)
	Description string `json:"description"` // what was done, in a sentence or two
	// Vantage is where the capture was taken: "client" (the client's
	// interface), "server" (the server's interface) or "middle" (the
	// router's mirror port, or every interface of the router namespace).
	Vantage string       `json:"vantage"`
	Format  string       `json:"format"` // "pcap" or "pcapng"
	Link    string       `json:"link"`   // "ethernet", "ethernet+802.1q" or "linux-sll2"
	Flows   []FlowExpect `json:"flows"`
}

// FlowExpect is the expected verdict of one flow incarnation.
type FlowExpect struct {
	Client      string `json:"client"`      // "198.18.0.1:40000" or "[2001:db8::1]:40000"
	Server      string `json:"server"`      // the listening side (or the refused port)
	Incarnation int    `json:"incarnation"` // 1, 2, ... per 5-tuple, split on the client's SYN
	Class       string `json:"class"`       // one of Classes
	// Flags is the exact set of flags the flow must get (compare as sets).
	Flags []string `json:"flags"`
	// ActiveCloser is "client", "server", "both" (simultaneous) or "none".
	ActiveCloser string `json:"active_closer"`
	// Frames names the decisive packets by Wireshark frame number
	// (1-based). Keys: syn, synack, first_fin, second_fin,
	// retransmitted_fin, rst, final_ack, old_segment, answer, dsack. Only
	// keys whose packet is in this capture appear.
	Frames map[string]int `json:"frames"`
	// Note explains anything about this flow that is surprising at this
	// vantage point.
	Note string `json:"note,omitempty"`
}

// Classes are the class names an expectation may use (the analyzer's API
// names).
var Classes = []string{"open", "four-way", "simultaneous", "rst-abort", "rst-after-close", "refused",
	"lost-ack", "lost-fin", "fin-retransmit", "late-duplicate", "close-wait", "fin-wait"}

// FlagNames are the flag names an expectation may use.
var FlagNames = []string{"piggybacked-fin", "half-close", "reuse-in-time-wait", "rst-in-time-wait",
	"fin-retransmit", "no-handshake", "capture-gap", "zero-window", "old-segment"}

// Validate checks names, addresses and incarnation numbers.
func (e *Expectation) Validate() error {
	if !slices.Contains([]string{"client", "server", "middle"}, e.Vantage) {
		return fmt.Errorf("vantage %q: want client, server or middle", e.Vantage)
	}
	if e.Capture == "" {
		return fmt.Errorf("no capture named")
	}
	seen := map[string]bool{}
	for i, f := range e.Flows {
		where := fmt.Sprintf("flow %d (%s -> %s #%d)", i+1, f.Client, f.Server, f.Incarnation)
		if _, err := netip.ParseAddrPort(f.Client); err != nil {
			return fmt.Errorf("%s: client: %w", where, err)
		}
		if _, err := netip.ParseAddrPort(f.Server); err != nil {
			return fmt.Errorf("%s: server: %w", where, err)
		}
		if f.Incarnation < 1 {
			return fmt.Errorf("%s: incarnation must be 1 or more", where)
		}
		k := fmt.Sprintf("%s %s %d", f.Client, f.Server, f.Incarnation)
		if seen[k] {
			return fmt.Errorf("%s: listed twice", where)
		}
		seen[k] = true
		if !slices.Contains(Classes, f.Class) {
			return fmt.Errorf("%s: unknown class %q", where, f.Class)
		}
		for _, fl := range f.Flags {
			if !slices.Contains(FlagNames, fl) {
				return fmt.Errorf("%s: unknown flag %q", where, fl)
			}
		}
		if !slices.Contains([]string{"client", "server", "both", "none"}, f.ActiveCloser) {
			return fmt.Errorf("%s: unknown active closer %q", where, f.ActiveCloser)
		}
		for k, v := range f.Frames {
			if v < 1 {
				return fmt.Errorf("%s: frame %s=%d is not a frame number", where, k, v)
			}
		}
	}
	return nil
}

// Flow returns the expectation for a 5-tuple incarnation, or nil.
func (e *Expectation) Flow(client, server string, incarnation int) *FlowExpect {
	for i := range e.Flows {
		f := &e.Flows[i]
		if f.Client == client && f.Server == server && f.Incarnation == incarnation {
			return f
		}
	}
	return nil
}

// ReadExpectation reads and validates a NAME.expect.json file.
func ReadExpectation(path string) (*Expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading expectation: %w", err)
	}
	return ParseExpectation(b)
}

// ParseExpectation decodes and validates an expectation; unknown fields
// are an error, so a typo cannot silently weaken a test.
func ParseExpectation(b []byte) (*Expectation, error) {
	var e Expectation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("decoding expectation: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("expectation for %s: %w", e.Capture, err)
	}
	return &e, nil
}

// WriteExpectation writes e as indented JSON, flags sorted.
func WriteExpectation(path string, e *Expectation) error {
	for i := range e.Flows {
		if e.Flows[i].Flags == nil {
			e.Flows[i].Flags = []string{}
		}
		sort.Strings(e.Flows[i].Flags)
		if e.Flows[i].Frames == nil {
			e.Flows[i].Frames = map[string]int{}
		}
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("expectation for %s: %w", e.Capture, err)
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding expectation: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing expectation: %w", err)
	}
	return nil
}

// SameFlags reports whether two flag lists are the same set.
func SameFlags(a, b []string) bool {
	x := slices.Clone(a)
	y := slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}
