// Package capture reads packet captures (pcap in either byte order and
// resolution, pcapng with several interfaces, either gzip-compressed,
// recognised by content) and yields decoded TCP segments in timestamp order,
// merging several inputs.
package capture

import (
	"teardown/reassembly"
)

// Input describes one opened capture, for reports.
type Input struct {
	Name      string   // path as given, "-" for standard input
	Format    string   // "pcap", "pcapng"; "+gzip" appended when compressed
	LinkTypes []string // link types seen (names, e.g. "Ethernet", "Linux SLL2")
	Frames    int64    // records read
	TCP       int64    // TCP segments decoded
	NonTCP    int64    // frames that were not TCP (counted and skipped)
	Fragments int64    // IP fragments (not reassembled)
	Truncated int64    // frames whose TCP header was cut by the snap length
	FirstAt   int64    // first and last timestamps, Unix ns
	LastAt    int64
}

// Warning is a problem in the input that did not stop reading: a truncated
// record, an undecodable frame. It names the file and frame or offset.
type Warning struct {
	File   string
	Frame  int64 // 0 if unknown
	Offset int64 // byte offset in the (decompressed) file, -1 if unknown
	Msg    string
}

func (w Warning) String() string { return "" /* implemented by the capture package */ }

// Reader merges one or more captures by timestamp.
type Reader struct{}

// Open opens the named captures ("-" is standard input) and checks their
// headers. warn receives non-fatal problems as they are found.
func Open(names []string, warn func(Warning)) (*Reader, error) { return nil, nil }

// Next fills seg with the next TCP segment in timestamp order. It returns
// false at the end of all inputs or on a fatal error (see Err).
func (r *Reader) Next(seg *reassembly.Segment) bool { return false }

// Err returns the first fatal error, if any (sticky, like bufio.Scanner).
func (r *Reader) Err() error { return nil }

// Inputs describes the inputs, with counters so far.
func (r *Reader) Inputs() []Input { return nil }

// Close releases the files.
func (r *Reader) Close() error { return nil }
