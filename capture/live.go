package capture

import (
	"errors"
	"time"

	"teardown/reassembly"
)

// Live capture defaults.
const (
	// DefaultSnaplen is the number of bytes kept of each frame: enough for
	// Ethernet, a VLAN tag, an IPv4 header with some options or an IPv6
	// header, and a TCP header with timestamps and SACK blocks. teardown
	// needs no payload: the IP length gives the segment length.
	DefaultSnaplen = 128
	// DefaultBuffer is the size of the kernel ring in bytes.
	DefaultBuffer = 8 << 20
	// DefaultPollTimeout is how long Live.Next waits for a frame before it
	// returns so that the caller can do its periodic work.
	DefaultPollTimeout = 100 * time.Millisecond
)

// AnyInterface is the interface name that captures on every interface.
const AnyInterface = "any"

// ErrStopped is returned by Live.Next once Stop was called and the frames
// already in the ring were read.
var ErrStopped = errors.New("capture stopped")

// LiveConfig configures a live capture.
type LiveConfig struct {
	// Interface is the interface to capture on, or "any" for every
	// interface of the network namespace.
	Interface string
	// Snaplen is the number of bytes kept of each frame; 0 means
	// DefaultSnaplen.
	Snaplen int
	// Buffer is the size of the kernel ring in bytes; 0 means
	// DefaultBuffer.
	Buffer int
	// Promisc puts the interface in promiscuous mode for the capture (not
	// with "any").
	Promisc bool
	// Filter selects the frames, in the kernel; nil means DefaultFilter
	// (TCP only).
	Filter *Filter
	// PollTimeout bounds how long Next blocks; 0 means DefaultPollTimeout.
	PollTimeout time.Duration
	// Count stops the capture after this many frames (like tcpdump -c):
	// Next returns ErrStopped instead of reading more. 0 means no limit.
	Count int64
	// OnFrame, if set, is called with every frame the filter kept, before
	// it is decoded (to write it to a file). The Frame and its Data are
	// valid only during the call.
	OnFrame func(*Frame)
}

// Frame is one captured frame as handed to LiveConfig.OnFrame, or as
// Reader.Raw returns it from a file.
type Frame struct {
	Number  int64  // 1-based, in capture order: the frame number in a file written from OnFrame
	At      int64  // kernel timestamp, Unix ns
	Iface   int    // interface index (live) or pcapng interface (files)
	IfName  string // interface name (live only)
	Link    reassembly.LinkType
	Data    []byte // the captured bytes (at most the snap length)
	Len     int    // the frame's length on the wire
	Snaplen uint32 // snap length of the file or pcapng interface (files only; 0 if unknown)
}

// LiveStats are the kernel's counters of a live capture.
type LiveStats struct {
	Received uint64 // frames the kernel's filter kept (delivered or dropped)
	Drops    uint64 // frames dropped because the ring was full
	Freezes  uint64 // times the TPACKET_V3 ring froze its queue
}

// Interface describes a network interface of a live capture: what a
// pcapng Interface Description Block needs.
type Interface struct {
	Index   int
	Name    string
	Link    reassembly.LinkType // LinkEthernet or LinkRaw; other link types are not decoded
	ARPHRD  uint16              // the kernel's device type
	Snaplen int
}
