package analyzer

import "fmt"

// State is the TCP state of one endpoint as inferred from the capture. The
// RFC 9293 states are named as in Linux tcp_states.h; StateUnknown,
// StatePartial and StateReset are observer states (as Zeek's INACTIVE,
// PARTIAL and RESET): nothing seen yet, data seen without a handshake, and
// torn down by an RST.
type State uint8

// The states.
const (
	StateUnknown State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateClosing
	StateTimeWait
	StateCloseWait
	StateLastAck
	StateClosed
	StatePartial
	StateReset
	numStates
)

var stateNames = [numStates]string{
	"UNKNOWN", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "CLOSED", "PARTIAL", "RESET",
}

// String returns the Linux name of s ("FIN_WAIT_1"), or "State(N)".
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// synchronized reports whether the endpoint has completed the handshake (or
// is assumed to have, for a flow caught mid-connection).
func (s State) synchronized() bool {
	switch s {
	case StateEstablished, StateFinWait1, StateFinWait2, StateClosing, StateTimeWait,
		StateCloseWait, StateLastAck, StatePartial:
		return true
	}
	return false
}

// sentFIN reports whether the endpoint has sent its FIN.
func (s State) sentFIN() bool {
	switch s {
	case StateFinWait1, StateFinWait2, StateClosing, StateTimeWait, StateLastAck:
		return true
	}
	return false
}
