package analyzer

import (
	"fmt"
	"strings"
)

// Class is the one verdict every flow incarnation gets. Its text form is
// part of teardown's API (JSON, --class, --fail-on, expectation files).
type Class uint8

// The classes, in the order of precedence used when several apply: the
// more specific wins (see Classify).
const (
	ClassOpen          Class = iota // open: the capture ended before any close
	ClassFourWay                    // four-way: both FINs sent and acknowledged, no RST
	ClassSimultaneous               // simultaneous: both FINs sent before either was received
	ClassRSTAbort                   // rst-abort: a side that never sent FIN reset the connection
	ClassRSTAfterClose              // rst-after-close: a side that had closed answered later data with RST
	ClassRefused                    // refused: a SYN answered by RST
	ClassLostACK                    // lost-ack: the final ACK was lost, so the FIN was sent again
	ClassLostFIN                    // lost-fin: the FIN itself was lost and sent again
	ClassFINRetransmit              // fin-retransmit: a FIN was sent again, the capture cannot tell which segment was lost
	ClassLateDuplicate              // late-duplicate: this incarnation received a segment of an earlier one
	ClassCloseWait                  // close-wait: one FIN acknowledged, the other side never closed
	ClassFINWait                    // fin-wait: a FIN never acknowledged
	numClasses
)

var classNames = [numClasses]string{
	ClassOpen:          "open",
	ClassFourWay:       "four-way",
	ClassSimultaneous:  "simultaneous",
	ClassRSTAbort:      "rst-abort",
	ClassRSTAfterClose: "rst-after-close",
	ClassRefused:       "refused",
	ClassLostACK:       "lost-ack",
	ClassLostFIN:       "lost-fin",
	ClassFINRetransmit: "fin-retransmit",
	ClassLateDuplicate: "late-duplicate",
	ClassCloseWait:     "close-wait",
	ClassFINWait:       "fin-wait",
}

// Classes lists every class in a stable order, for summaries.
func Classes() []Class {
	cs := make([]Class, 0, numClasses)
	for c := Class(0); c < numClasses; c++ {
		cs = append(cs, c)
	}
	return cs
}

// String returns the API name of c, or "Class(N)" for an unknown value.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c Class) MarshalText() ([]byte, error) {
	if c >= numClasses {
		return nil, fmt.Errorf("unknown class %d", uint8(c))
	}
	return []byte(classNames[c]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ParseClass returns the class with API name s.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("unknown class %q (want one of %s)", s, strings.Join(classNames[:], ", "))
}

// Flag is one of the additional observations on a flow.
type Flag uint16

// The flags. Their text form is API, like the classes'.
const (
	FlagPiggybackedFIN  Flag = 1 << iota // piggybacked-fin: the passive FIN rode on the ACK of the first FIN
	FlagHalfClose                        // half-close: data followed the first FIN
	FlagReuseInTimeWait                  // reuse-in-time-wait: a SYN reused the tuple within TIME_WAIT of the previous incarnation
	FlagRSTInTimeWait                    // rst-in-time-wait: an RST reached a side in TIME_WAIT
	FlagFINRetransmit                    // fin-retransmit: some FIN was sent more than once
	FlagNoHandshake                      // no-handshake: the capture starts after the handshake
	FlagCaptureGap                       // capture-gap: data acknowledged but never captured
	FlagZeroWindow                       // zero-window: a side advertised a zero window
	FlagOldSegment                       // old-segment: this incarnation sent a segment that arrived in a later one
	numFlags            = iota
)

var flagNames = [numFlags]string{
	"piggybacked-fin",
	"half-close",
	"reuse-in-time-wait",
	"rst-in-time-wait",
	"fin-retransmit",
	"no-handshake",
	"capture-gap",
	"zero-window",
	"old-segment",
}

// FlagNames lists every flag's API name, in bit order.
func FlagNames() []string { return append([]string(nil), flagNames[:]...) }

// Flags is a set of Flag.
type Flags uint16

// Has reports whether f is in the set.
func (fs Flags) Has(f Flag) bool { return uint16(fs)&uint16(f) != 0 }

// Set adds f to the set.
func (fs *Flags) Set(f Flag) { *fs |= Flags(f) }

// Strings returns the API names of the set's flags, in bit order. It never
// returns nil, so JSON shows [] for an empty set.
func (fs Flags) Strings() []string {
	out := []string{}
	for i := 0; i < numFlags; i++ {
		if uint16(fs)&(1<<i) != 0 {
			out = append(out, flagNames[i])
		}
	}
	return out
}

// MarshalJSON writes the set as an array of names.
func (fs Flags) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range fs.Strings() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + s + `"`)
	}
	b.WriteByte(']')
	return []byte(b.String()), nil
}

// ParseFlag returns the flag with API name s.
func ParseFlag(s string) (Flag, error) {
	for i, n := range flagNames {
		if n == s {
			return Flag(1 << i), nil
		}
	}
	return 0, fmt.Errorf("unknown flag %q", s)
}

// Vantage is where the capture was taken, relative to one flow.
type Vantage uint8

// The vantage points.
const (
	VantageUnknown Vantage = iota // unknown
	VantageClient                 // client: captured at or next to the client
	VantageServer                 // server: captured at or next to the server
	VantageMiddle                 // middle: somewhere between the two
)

var vantageNames = [...]string{"unknown", "client", "server", "middle"}

// String returns "unknown", "client", "server" or "middle".
func (v Vantage) String() string {
	if int(v) < len(vantageNames) {
		return vantageNames[v]
	}
	return fmt.Sprintf("Vantage(%d)", uint8(v))
}

// MarshalText implements encoding.TextMarshaler.
func (v Vantage) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Closer names the side that closed first.
type Closer uint8

// The closers.
const (
	CloserNone   Closer = iota // none
	CloserClient               // client
	CloserServer               // server
	CloserBoth                 // both (simultaneous close)
)

var closerNames = [...]string{"none", "client", "server", "both"}

// String returns "none", "client", "server" or "both".
func (c Closer) String() string {
	if int(c) < len(closerNames) {
		return closerNames[c]
	}
	return fmt.Sprintf("Closer(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c Closer) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ParseCloser returns the closer named s.
func ParseCloser(s string) (Closer, error) {
	for i, n := range closerNames {
		if n == s {
			return Closer(i), nil
		}
	}
	return 0, fmt.Errorf("unknown active closer %q", s)
}
