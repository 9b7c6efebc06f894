// Package capture reads packet captures (pcap in either byte order and
// resolution, pcapng with several interfaces, either gzip-compressed,
// recognised by content) and yields decoded TCP segments in timestamp order,
// merging several inputs.
//
// The record readers are written by hand over a large bufio.Reader rather
// than built on gopacket's pcapgo readers, because:
//   - pcapgo's errors carry no byte offset and leave the reader in an
//     unknown state, so it cannot skip a bad pcapng block and carry on, and
//     we could not name where a file went wrong;
//   - pcapgo.Reader rejects a record longer than the snap length in the file
//     header, which tcpdump and Wireshark read (dpkt and others write such
//     files); here it is a warning;
//   - pcapgo.NgReader does not read the obsolete Packet Block (type 2), whose
//     records Wireshark numbers like any other frame;
//   - reading straight from the bufio buffer (Peek, decode, Discard) copies
//     nothing and allocates nothing per record.
//
// Tests still write their captures with pcapgo, and compare frame numbers
// with it.
package capture

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"

	"teardown/reassembly"
)

// Input describes one opened capture, for reports.
type Input struct {
	Name       string     // path as given, "-" for standard input
	Format     string     // "pcap", "pcapng"; "+gzip" appended when compressed
	LinkTypes  []string   // link types of the file or its interfaces (names, e.g. "Ethernet", "Linux SLL2")
	Frames     int64      // records read
	TCP        int64      // TCP segments decoded
	NonTCP     int64      // frames that were not TCP (counted and skipped)
	Fragments  int64      // IP fragments carrying TCP (not reassembled)
	Truncated  int64      // frames whose TCP header was cut by the snap length (skipped)
	Malformed  int64      // frames with impossible headers (skipped)
	OptionsCut int64      // TCP segments whose options the snap length cut (kept, see Segment.CapTrunc)
	Filtered   int64      // frames the capture filter (-f) rejected (counted in Frames only)
	Live       *LiveStats // a live capture's kernel counters (nil for files)
	FirstAt    int64      // earliest and latest frame timestamps, Unix ns (0 if no frames)
	LastAt     int64
	EndAt      int64 // when the capture stopped, if the file says (pcapng isb_endtime), Unix ns; 0 if not
	Complete   bool  // the input was read to its end without a problem that stopped it
}

// Warning is a problem in the input that did not stop reading: a truncated
// record, an undecodable frame. It names the file and frame or offset.
type Warning struct {
	File   string
	Frame  int64 // 0 if unknown
	Offset int64 // byte offset in the (decompressed) file, -1 if unknown
	Msg    string
}

// String formats w as "file: frame 12 (offset 1234): msg", leaving out
// what is unknown.
func (w Warning) String() string {
	switch {
	case w.Frame > 0 && w.Offset >= 0:
		return w.File + ": frame " + strconv.FormatInt(w.Frame, 10) + " (offset " + strconv.FormatInt(w.Offset, 10) + "): " + w.Msg
	case w.Frame > 0:
		return w.File + ": frame " + strconv.FormatInt(w.Frame, 10) + ": " + w.Msg
	case w.Offset >= 0:
		return w.File + ": offset " + strconv.FormatInt(w.Offset, 10) + ": " + w.Msg
	}
	return w.File + ": " + w.Msg
}

// Source is a capture to read from an io.Reader, for OpenReaders.
type Source struct {
	Name string // used in Input.Name, warnings and errors
	R    io.Reader
}

// Limits on the input.
const (
	// MaxRecord is the largest captured length accepted for one frame
	// (Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD). A pcap record header
	// claiming more means the file is corrupt from there on.
	MaxRecord = 256 << 10
	// maxBlock is the largest pcapng block accepted; a longer block length
	// means the file is corrupt from there on.
	maxBlock = 16 << 20
	// bufSize is the size of the read buffer of each input (twice that
	// for a gzip-compressed one). A whole pcap record (or a pcapng packet
	// block) must fit, so it can be decoded in place; 1 MiB reads no
	// faster.
	bufSize = 1 << 19
	// maxFrameWarnings is how many undecodable frames are reported one by
	// one per input; the rest are summed up at its end.
	maxFrameWarnings = 10
)

// Reader merges one or more captures by timestamp. It is not safe for
// concurrent use.
type Reader struct {
	inputs  []*input
	heap    []*input // inputs with a pending segment, by (pending.At, index)
	primed  bool
	warn    func(Warning)
	err     error
	dec     reassembly.Decoder
	closers []io.Closer
	filter  *Filter // see SetFilter
	keepRaw bool    // see KeepRaw
	raw     Frame
	rawOut  []byte
}

// Open opens the named captures ("-" is standard input) and checks their
// headers. warn receives non-fatal problems as they are found; it may be
// nil.
func Open(names []string, warn func(Warning)) (*Reader, error) {
	srcs := make([]Source, 0, len(names))
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	stdin := false
	for _, name := range names {
		if name == "-" {
			if stdin {
				closeAll()
				return nil, errors.New("standard input (-) given more than once")
			}
			stdin = true
			srcs = append(srcs, Source{Name: name, R: os.Stdin})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("opening capture: %w", err)
		}
		closers = append(closers, f)
		srcs = append(srcs, Source{Name: name, R: f})
	}
	r, err := OpenReaders(srcs, warn)
	if err != nil {
		closeAll()
		return nil, err
	}
	r.closers = append(r.closers, closers...)
	return r, nil
}

// OpenReaders is Open for captures that are already open, such as
// standard input or in-memory data. Close does not close the readers.
func OpenReaders(srcs []Source, warn func(Warning)) (*Reader, error) {
	if len(srcs) == 0 {
		return nil, errors.New("no capture to read")
	}
	if warn == nil {
		warn = func(Warning) {}
	}
	r := &Reader{warn: warn}
	for i, s := range srcs {
		in, err := newInput(i, s, warn)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.inputs = append(r.inputs, in)
		if in.gz != nil {
			r.closers = append(r.closers, in.gz)
		}
	}
	return r, nil
}

// Next fills seg with the next TCP segment in timestamp order. It returns
// false at the end of all inputs or on a fatal error (see Err).
//
// Inputs are merged by timestamp; ties, and frames out of time order within
// one file, keep file order and input order. seg.File is the index of the
// input, seg.Frame its Wireshark frame number.
func (r *Reader) Next(seg *reassembly.Segment) bool {
	if r.err != nil {
		return false
	}
	if len(r.inputs) == 1 {
		in := r.inputs[0]
		ok := in.next(r, seg)
		r.raw = in.raw
		return ok
	}
	if !r.primed {
		r.primed = true
		for _, in := range r.inputs {
			if in.next(r, &in.pending) {
				r.heap = append(r.heap, in)
				r.up(len(r.heap) - 1)
			}
			if r.err != nil {
				return false
			}
		}
	}
	if len(r.heap) == 0 {
		return false
	}
	in := r.heap[0]
	*seg = in.pending
	if r.keepRaw {
		r.rawOut = append(r.rawOut[:0], in.raw.Data...)
		r.raw = in.raw
		r.raw.Data = r.rawOut
	}
	if in.next(r, &in.pending) {
		r.down(0)
	} else {
		last := len(r.heap) - 1
		r.heap[0] = r.heap[last]
		r.heap = r.heap[:last]
		r.down(0)
	}
	return true
}

// before orders the merge heap: by timestamp, then input index.
func before(a, b *input) bool {
	if a.pending.At != b.pending.At {
		return a.pending.At < b.pending.At
	}
	return a.idx < b.idx
}

func (r *Reader) up(i int) {
	h := r.heap
	for i > 0 {
		p := (i - 1) / 2
		if !before(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (r *Reader) down(i int) {
	h := r.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if rr := l + 1; rr < len(h) && before(h[rr], h[l]) {
			m = rr
		}
		if !before(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Err returns the first fatal error, if any (sticky, like bufio.Scanner).
// Problems in the content of a capture are warnings, not errors: a fatal
// error is a failure to read (an I/O error).
func (r *Reader) Err() error { return r.err }

// Inputs describes the inputs, with counters so far.
func (r *Reader) Inputs() []Input {
	out := make([]Input, len(r.inputs))
	for i, in := range r.inputs {
		out[i] = in.info
		out[i].LinkTypes = append([]string(nil), in.info.LinkTypes...)
	}
	return out
}

// Close releases the files.
func (r *Reader) Close() error {
	var first error
	for _, c := range r.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.closers = nil
	return first
}

// format is the container format of an input.
type format uint8

const (
	formatPcap format = iota + 1
	formatPcapng
)

// input is one capture being read.
type input struct {
	idx    int
	info   Input
	warn   func(Warning)
	br     *bufio.Reader
	gz     *gzip.Reader
	format format
	be     bool  // big-endian file (pcap) or section (pcapng)
	off    int64 // offset of the next unread byte in the (decompressed) stream
	frame  int64 // frames read so far
	done   bool

	// pcap
	nanos    bool   // nanosecond timestamps
	recHdr   int    // record header length: 16, or 24 for Kuznetzov's modified pcap
	snaplen  uint32 // from the file header
	origLen  uint32 // original length of the frame being decoded
	link     reassembly.LinkType
	snapWarn bool // a record longer than the snap length was reported

	// pcapng
	ifaces []iface
	lastAt int64 // timestamp of the previous frame, for Simple Packet Blocks
	haveTS bool  // a frame with a timestamp has been read (FirstAt is set)

	frameWarnings int // undecodable frames reported one by one
	pending       reassembly.Segment
	scratch       []byte
	raw           Frame  // the frame behind pending (with Reader.KeepRaw)
	rawBuf        []byte // its copy when inputs are merged
}

// iface is a pcapng interface.
type iface struct {
	link    reassembly.LinkType
	snaplen uint32
	// timestamp conversion to ns: units*mul/div for a power-of-ten
	// resolution, units*1e9>>shift for a power of two; plus offset.
	mul, div uint64
	shift    uint
	binary   bool
	offset   int64
}

// newInput opens a source: detects gzip, then the format from the magic
// number, and reads the file header.
func newInput(idx int, s Source, warn func(Warning)) (*input, error) {
	in := &input{idx: idx, warn: warn, info: Input{Name: s.Name, Complete: true}}
	br := bufio.NewReaderSize(s.R, bufSize)
	if m, err := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: reading gzip header: %w", s.Name, err)
		}
		in.gz = zr
		br = bufio.NewReaderSize(zr, bufSize)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s: %w", s.Name, err)
	}
	in.br = br
	magic, err := br.Peek(4)
	if len(magic) < 4 {
		if err != nil && !errors.Is(err, io.EOF) && !isFormatError(err) {
			return nil, fmt.Errorf("reading %s: %w", s.Name, err)
		}
		if len(magic) == 0 {
			return nil, fmt.Errorf("%s: empty file, not a pcap or pcapng file", s.Name)
		}
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %x, file too short)", s.Name, magic)
	}
	switch m := binary.BigEndian.Uint32(magic); m {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		err = in.openPcap(m)
	case 0x0a0d0d0a:
		err = in.openPcapng()
	default:
		if hint := compressedAs(magic); hint != "" {
			return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %x; it looks %s-compressed: decompress it first, or use gzip)", s.Name, magic, hint)
		}
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %x)", s.Name, magic)
	}
	if err != nil {
		return nil, err
	}
	if in.gz != nil {
		in.info.Format += "+gzip"
	}
	return in, nil
}

// compressedAs names the compression format whose magic number starts
// magic, among those the standard library cannot read as a stream.
func compressedAs(magic []byte) string {
	switch {
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X'}):
		return "xz"
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(magic, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	}
	return ""
}

// isFormatError reports whether err means the content is bad (a cut file,
// corrupt compression) rather than that reading failed.
func isFormatError(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
		errors.As(err, &corrupt)
}

func (in *input) u16(b []byte) uint16 {
	if in.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (in *input) u32(b []byte) uint32 {
	v := binary.LittleEndian.Uint32(b)
	if in.be {
		v = bits.ReverseBytes32(v)
	}
	return v
}

// addLink records a link type for Input.LinkTypes, and warns once about
// one Decode does not support.
func (in *input) addLink(l reassembly.LinkType, where string) {
	name := l.String()
	for _, s := range in.info.LinkTypes {
		if s == name {
			return
		}
	}
	in.info.LinkTypes = append(in.info.LinkTypes, name)
	if !l.Supported() {
		in.warnf(0, -1, "%slink type %d is not supported: its frames are counted as not TCP", where, uint16(l))
	}
}

func (in *input) warnf(frame, off int64, format string, args ...any) {
	in.warn(Warning{File: in.info.Name, Frame: frame, Offset: off, Msg: fmt.Sprintf(format, args...)})
}

// stop ends reading an input because of err, met at offset off while
// reading frame (0 if not in a frame). Content problems become a warning;
// other errors are fatal for the Reader.
func (in *input) stop(r *Reader, frame, off int64, what string, err error) {
	in.done = true
	in.info.Complete = false
	if err == nil || isFormatError(err) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		msg := what + ": " + err.Error()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			msg = what + ", the file ends early"
		}
		in.warnf(frame, off, "%s; reading of this file stops here", msg)
		return
	}
	if r.err == nil {
		r.err = fmt.Errorf("reading %s: %w", in.info.Name, err)
	}
}

// finish reports the summaries at the end of an input.
func (in *input) finish() {
	in.done = true
	if n := in.info.Truncated + in.info.Malformed - int64(in.frameWarnings); n > 0 {
		in.warnf(0, -1, "%d more frames with truncated or malformed headers", n)
	}
	if in.info.OptionsCut > 0 {
		in.warnf(0, -1, "the snap length cut the TCP options of %d segments: timestamps and SACK blocks may be missing", in.info.OptionsCut)
	}
}

// read returns the next n bytes and consumes them. The slice is valid until
// the next read. On a short read it returns what there was and the error.
func (in *input) read(n int) ([]byte, error) {
	if n <= in.br.Size() {
		b, err := in.br.Peek(n)
		if err != nil {
			return b, err
		}
		in.br.Discard(n)
		in.off += int64(n)
		return b, nil
	}
	if cap(in.scratch) < n {
		in.scratch = make([]byte, n)
	}
	b := in.scratch[:n]
	m, err := io.ReadFull(in.br, b)
	in.off += int64(m)
	return b[:m], err
}

// skip consumes n bytes.
func (in *input) skip(n int) error {
	m, err := in.br.Discard(n)
	in.off += int64(m)
	return err
}

// next reads frames until it decodes a TCP segment into seg (true), or the
// input ends (false).
func (in *input) next(r *Reader, seg *reassembly.Segment) bool {
	if in.done {
		return false
	}
	if in.format == formatPcap {
		return in.nextPcap(r, seg)
	}
	return in.nextPcapng(r, seg)
}

// frameDone decodes one frame and updates the counters. hasTS is false
// for a frame without a timestamp of its own (at is borrowed). It reports
// whether the frame is a TCP segment.
func (in *input) frameDone(r *Reader, link reassembly.LinkType, data []byte, at int64, hasTS bool, ifc int, seg *reassembly.Segment, off int64) bool {
	if hasTS {
		if !in.haveTS || at < in.info.FirstAt {
			in.info.FirstAt = at
		}
		if !in.haveTS || at > in.info.LastAt {
			in.info.LastAt = at
		}
		in.haveTS = true
		in.lastAt = at
	}
	in.info.Frames++
	seg.File, seg.Frame, seg.At, seg.Iface = in.idx, in.frame, at, ifc
	if r.filter != nil && !r.filter.Match(link, data) {
		in.info.Filtered++
		return false
	}
	res := r.dec.Decode(link, data, seg)
	switch res.Status {
	case reassembly.StatusTCP:
		in.info.TCP++
		snap := in.snaplen
		if in.format != formatPcap && ifc < len(in.ifaces) {
			snap = in.ifaces[ifc].snaplen
		}
		if r.keepRaw {
			fr := Frame{Number: in.frame, At: at, Iface: ifc, Link: link, Snaplen: snap, Len: int(max(in.origLen, uint32(len(data)))), Data: data}
			if len(r.inputs) > 1 {
				// This input reads ahead of the merge: keep a copy.
				in.rawBuf = append(in.rawBuf[:0], data...)
				fr.Data = in.rawBuf
			}
			in.raw = fr
		}
		if seg.CapTrunc {
			in.info.OptionsCut++
		}
		return true
	case reassembly.StatusNotTCP:
		in.info.NonTCP++
	case reassembly.StatusFragment:
		in.info.Fragments++
	case reassembly.StatusTruncated, reassembly.StatusMalformed:
		if res.Status == reassembly.StatusTruncated {
			in.info.Truncated++
		} else {
			in.info.Malformed++
		}
		if in.frameWarnings < maxFrameWarnings {
			in.frameWarnings++
			in.warnf(in.frame, off, "%s (%d bytes captured), frame skipped", res.Reason, len(data))
		}
	}
	return false
}

// --- pcap ---------------------------------------------------------------

// openPcap reads the 24-byte pcap file header.
func (in *input) openPcap(magic uint32) error {
	in.format = formatPcap
	in.info.Format = "pcap"
	h, err := in.read(24)
	if len(h) < 24 {
		if err != nil && !isFormatError(err) {
			return fmt.Errorf("reading %s: %w", in.info.Name, err)
		}
		return fmt.Errorf("%s: pcap file header truncated (%d of 24 bytes)", in.info.Name, len(h))
	}
	in.be = h[0] == 0xa1
	in.nanos = magic == 0xa1b23c4d || magic == 0x4d3cb2a1
	in.recHdr = 16
	if magic == 0xa1b2cd34 || magic == 0x34cdb2a1 {
		in.recHdr = 24 // Kuznetzov's patched libpcap: ifindex, protocol, pkt_type, padding
	}
	if major := in.u16(h[4:6]); major != 2 {
		in.warnf(0, 4, "unexpected pcap version %d.%d, reading it as 2.4", major, in.u16(h[6:8]))
	}
	in.snaplen = in.u32(h[16:20])
	// The low 16 bits are the link type; above are FCS flags (which the IP
	// length makes irrelevant).
	in.link = reassembly.LinkType(in.u32(h[20:24]) & 0xffff)
	in.addLink(in.link, "")
	return nil
}

func (in *input) nextPcap(r *Reader, seg *reassembly.Segment) bool {
	for {
		start := in.off
		h, err := in.br.Peek(in.recHdr)
		if len(h) < in.recHdr {
			if len(h) == 0 && errors.Is(err, io.EOF) {
				in.finish()
				return false
			}
			in.stop(r, in.frame+1, start, fmt.Sprintf("record header truncated (%d of %d bytes)", len(h), in.recHdr), err)
			in.finish()
			return false
		}
		sec, frac := in.u32(h[0:4]), in.u32(h[4:8])
		caplen := in.u32(h[8:12])
		if caplen > MaxRecord {
			in.done, in.info.Complete = true, false
			in.warnf(in.frame+1, start, "record length %d is absurd (limit %d, snap length %d): the file is corrupt from here, reading of this file stops here", caplen, MaxRecord, in.snaplen)
			in.finish()
			return false
		}
		if caplen > in.snaplen && in.snaplen != 0 && !in.snapWarn {
			in.snapWarn = true
			in.warnf(in.frame+1, start, "record length %d exceeds the snap length %d of the file header; reading it anyway, as tcpdump and Wireshark do", caplen, in.snaplen)
		}
		n := in.recHdr + int(caplen)
		rec, err := in.read(n)
		if len(rec) < n {
			in.stop(r, in.frame+1, start, fmt.Sprintf("record truncated (%d of %d bytes)", len(rec), n), err)
			in.finish()
			return false
		}
		in.frame++
		at := int64(sec) * 1e9
		if in.nanos {
			at += int64(frac)
		} else {
			at += int64(frac) * 1e3
		}
		in.origLen = in.u32(h[12:16])
		if in.frameDone(r, in.link, rec[in.recHdr:], at, true, 0, seg, start) {
			return true
		}
	}
}

// --- pcapng -------------------------------------------------------------

// pcapng block types.
const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 0x00000001
	blockPB  = 0x00000002 // obsolete Packet Block
	blockSPB = 0x00000003
	blockEPB = 0x00000006
	blockISB = 0x00000005
)

// openPcapng reads the first Section Header Block.
func (in *input) openPcapng() error {
	in.format = formatPcapng
	in.info.Format = "pcapng"
	h, err := in.br.Peek(12)
	if len(h) < 12 {
		if err != nil && !isFormatError(err) {
			return fmt.Errorf("reading %s: %w", in.info.Name, err)
		}
		return fmt.Errorf("%s: pcapng section header truncated (%d bytes)", in.info.Name, len(h))
	}
	switch binary.BigEndian.Uint32(h[8:12]) {
	case 0x1a2b3c4d, 0x4d3c2b1a:
	default:
		return fmt.Errorf("%s: pcapng section header has a bad byte-order magic %x", in.info.Name, h[8:12])
	}
	return nil
}

func (in *input) nextPcapng(r *Reader, seg *reassembly.Segment) bool {
	for {
		start := in.off
		h, err := in.br.Peek(12)
		if len(h) < 12 {
			if len(h) == 0 && errors.Is(err, io.EOF) {
				in.finish()
				return false
			}
			// No block is shorter than 12 bytes.
			in.stop(r, 0, start, fmt.Sprintf("block header truncated (%d of 12 bytes)", len(h)), err)
			in.finish()
			return false
		}
		typ := in.u32(h[0:4])
		if typ == blockSHB {
			// The byte order of a new section is in its header.
			switch binary.BigEndian.Uint32(h[8:12]) {
			case 0x1a2b3c4d:
				in.be = true
			case 0x4d3c2b1a:
				in.be = false
			default:
				in.badBlock(r, start, fmt.Sprintf("section header with a bad byte-order magic %x", h[8:12]))
				return false
			}
		}
		total := in.u32(h[4:8])
		if total < 12 || total%4 != 0 || total > maxBlock {
			in.badBlock(r, start, fmt.Sprintf("block of type %#x with an impossible length %d", typ, total))
			return false
		}
		isPacket := typ == blockEPB || typ == blockSPB || typ == blockPB
		frame := int64(0)
		if isPacket {
			in.frame++
			frame = in.frame
			if total > bufSize { // cannot hold a frame under MaxRecord
				if err := in.skip(int(total)); err != nil {
					in.stop(r, frame, start, fmt.Sprintf("block truncated (length %d)", total), err)
					in.finish()
					return false
				}
				in.badFrame(start, "packet block of %d bytes is over the limit, frame skipped", total)
				continue
			}
		}
		if isPacket || typ == blockSHB || typ == blockIDB || typ == blockISB {
			b, err := in.read(int(total))
			if len(b) < int(total) {
				in.stop(r, frame, start, fmt.Sprintf("block truncated (%d of %d bytes)", len(b), total), err)
				in.finish()
				return false
			}
			if tail := in.u32(b[total-4:]); tail != total {
				msg := fmt.Sprintf("block of type %#x: trailing length %d differs from leading length %d, block skipped", typ, tail, total)
				if isPacket {
					in.badFrame(start, "%s", msg)
				} else {
					in.warnf(0, start, "%s", msg)
				}
				continue
			}
			body := b[8 : total-4]
			switch typ {
			case blockSHB:
				in.section(body, start)
			case blockIDB:
				in.interfaceBlock(body, start)
			case blockISB:
				in.statisticsBlock(body)
			default:
				if in.packet(r, typ, body, start, seg) {
					return true
				}
			}
			continue
		}
		// Other blocks (statistics, name resolution, secrets...) are
		// skipped. Some are records to Wireshark, which numbers them as
		// frames: count them too, as non-TCP frames.
		rec := isRecordBlock(typ)
		if rec {
			in.frame++
		}
		if err := in.skip(int(total)); err != nil {
			frame := int64(0)
			if rec {
				frame = in.frame
			}
			in.stop(r, frame, start, fmt.Sprintf("block of type %#x truncated", typ), err)
			in.finish()
			return false
		}
		if rec {
			in.info.Frames++
			in.info.NonTCP++
		}
	}
}

// badFrame counts the current frame as malformed and warns about it (up to
// maxFrameWarnings per input).
func (in *input) badFrame(off int64, format string, args ...any) {
	in.info.Frames++
	in.info.Malformed++
	if in.frameWarnings < maxFrameWarnings {
		in.frameWarnings++
		in.warnf(in.frame, off, format, args...)
	}
}

// isRecordBlock reports whether a pcapng block that holds no packet is
// still a record, numbered as a frame, to Wireshark (wiretap/pcapng.c): a
// systemd journal entry, a Sysdig event, a custom block.
func isRecordBlock(typ uint32) bool {
	switch typ {
	case 0x00000009, // systemd journal export
		0x00000204, 0x00000208, 0x00000216, 0x00000217, 0x00000221, 0x00000222, // Sysdig events
		0x00000bad, 0x40000bad: // custom blocks
		return true
	}
	return false
}

// badBlock stops an input at a block header that makes no sense: the
// lengths can no longer be trusted to find the next block.
func (in *input) badBlock(r *Reader, off int64, msg string) {
	in.done, in.info.Complete = true, false
	in.warnf(0, off, "%s: the file is corrupt from here, reading of this file stops here", msg)
	in.finish()
}

// section starts a new section: interfaces are numbered afresh.
func (in *input) section(body []byte, off int64) {
	in.ifaces = in.ifaces[:0]
	if len(body) < 8 {
		in.warnf(0, off, "section header block too short")
		return
	}
	if major := in.u16(body[4:6]); major != 1 {
		in.warnf(0, off, "unexpected pcapng version %d.%d, reading it as 1.0", major, in.u16(body[6:8]))
	}
}

// interfaceBlock reads an Interface Description Block: link type, snap
// length and the timestamp options (if_tsresol, if_tsoffset).
func (in *input) interfaceBlock(body []byte, off int64) {
	ifc := iface{mul: 1000, div: 1} // default resolution: microseconds
	if len(body) < 8 {
		in.warnf(0, off, "interface description block too short; interface %d assumed Ethernet", len(in.ifaces))
		ifc.link = reassembly.LinkEthernet
		in.ifaces = append(in.ifaces, ifc)
		return
	}
	ifc.link = reassembly.LinkType(in.u16(body[0:2]))
	ifc.snaplen = in.u32(body[4:8])
	for o := body[8:]; len(o) >= 4; {
		code, n := in.u16(o[0:2]), int(in.u16(o[2:4]))
		if code == 0 || 4+n > len(o) {
			break
		}
		v := o[4 : 4+n]
		switch {
		case code == 9 && n == 1: // if_tsresol
			exp := uint(v[0] & 0x7f)
			if v[0]&0x80 != 0 {
				if exp > 63 {
					in.warnf(0, off, "interface %d: timestamp resolution 2^-%d out of range, assuming microseconds", len(in.ifaces), exp)
					break
				}
				ifc.binary, ifc.shift = true, exp
			} else {
				switch {
				case exp > 19:
					in.warnf(0, off, "interface %d: timestamp resolution 10^-%d out of range, assuming microseconds", len(in.ifaces), exp)
				case exp <= 9:
					ifc.mul, ifc.div = pow10(9-exp), 1
				default:
					ifc.mul, ifc.div = 1, pow10(exp-9)
				}
			}
		case code == 14 && n == 8: // if_tsoffset, seconds
			var s uint64
			if in.be {
				s = binary.BigEndian.Uint64(v)
			} else {
				s = binary.LittleEndian.Uint64(v)
			}
			ifc.offset = int64(s) * 1e9
		}
		o = o[4+(n+3)&^3:]
	}
	in.addLink(ifc.link, "interface "+strconv.Itoa(len(in.ifaces))+": ")
	in.ifaces = append(in.ifaces, ifc)
}

// statisticsBlock reads the capture end time (isb_endtime) of an
// Interface Statistics Block, which dumpcap and teardown -w write when a
// capture stops.
func (in *input) statisticsBlock(body []byte) {
	if len(body) < 12 {
		return
	}
	id := int(in.u32(body[0:4]))
	if id >= len(in.ifaces) {
		return
	}
	for o := body[12:]; len(o) >= 4; {
		code, n := in.u16(o[0:2]), int(in.u16(o[2:4]))
		if code == 0 || 4+n > len(o) {
			break
		}
		if code == 3 && n == 8 { // isb_endtime
			ts := uint64(in.u32(o[4:8]))<<32 | uint64(in.u32(o[8:12]))
			if at := in.ifaces[id].ns(ts); at > in.info.EndAt {
				in.info.EndAt = at
			}
		}
		o = o[4+(n+3)&^3:]
	}
}

func pow10(n uint) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// ns converts a timestamp in interface units to Unix nanoseconds.
func (ifc *iface) ns(ts uint64) int64 {
	if ifc.binary {
		if ifc.shift == 0 {
			return int64(ts*1e9) + ifc.offset
		}
		sec := ts >> ifc.shift
		hi, lo := bits.Mul64(ts&(1<<ifc.shift-1), 1e9)
		frac := lo>>ifc.shift | hi<<(64-ifc.shift)
		return int64(sec*1e9+frac) + ifc.offset
	}
	return int64(ts*ifc.mul/ifc.div) + ifc.offset
}

// packet decodes an Enhanced, Simple or obsolete Packet Block.
func (in *input) packet(r *Reader, typ uint32, body []byte, off int64, seg *reassembly.Segment) bool {
	var (
		id      int
		at      int64
		caplen  uint32
		data    []byte
		hdrSize int
	)
	switch typ {
	case blockEPB, blockPB:
		// EPB: interface(4) ts high(4) ts low(4) caplen(4) origlen(4)
		// PB: interface(2) drops(2) ts high(4) ts low(4) caplen(4) origlen(4)
		hdrSize = 20
		if len(body) < hdrSize {
			in.badFrame(off, "packet block too short (%d bytes), frame skipped", len(body))
			return false
		}
		if typ == blockEPB {
			id = int(in.u32(body[0:4]))
		} else {
			id = int(in.u16(body[0:2]))
		}
		if id >= len(in.ifaces) || id < 0 {
			in.badFrame(off, "packet block for interface %d, but the section defines %d, frame skipped", id, len(in.ifaces))
			return false
		}
		ts := uint64(in.u32(body[4:8]))<<32 | uint64(in.u32(body[8:12]))
		at = in.ifaces[id].ns(ts)
		caplen = in.u32(body[12:16])
		in.origLen = in.u32(body[16:20])
		if uint64(caplen) > uint64(len(body)-hdrSize) {
			in.badFrame(off, "captured length %d exceeds the block (%d bytes), frame skipped", caplen, len(body)-hdrSize)
			return false
		}
		data = body[hdrSize : hdrSize+int(caplen)]
	case blockSPB:
		// origlen(4), data; no interface (it is 0) and no timestamp (the
		// previous frame's is used, so merging keeps it in place).
		if len(body) < 4 || len(in.ifaces) == 0 {
			in.badFrame(off, "simple packet block without an interface or too short, frame skipped")
			return false
		}
		caplen = in.u32(body[0:4])
		in.origLen = caplen
		if room := uint32(len(body) - 4); caplen > room {
			caplen = room
		}
		if sn := in.ifaces[0].snaplen; sn != 0 && caplen > sn {
			caplen = sn
		}
		data = body[4 : 4+caplen]
		at = in.lastAt
	}
	if caplen > MaxRecord {
		in.badFrame(off, "captured length %d is over the limit of %d, frame skipped", caplen, MaxRecord)
		return false
	}
	return in.frameDone(r, in.ifaces[id].link, data, at, typ != blockSPB, id, seg, off)
}
