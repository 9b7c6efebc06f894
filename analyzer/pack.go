package analyzer

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"

	"teardown/reassembly"
)

// A settled flow that waits out TIME_WAIT with its full verdict (sentence,
// timeline, decisive frames: a renderer wants them) keeps that Flow packed
// into one pointer-free byte slice: varints, frame times as deltas, and
// strings inline. It is about a quarter of the Flow with its slices, map
// and strings, and the garbage collector does not scan it. The rare late
// segment that amends it unpacks and packs it again (see addSettled).

// packFlow appends the packed form of f to b, but for what the flow's core
// gives again (see coreInto): identity, addresses, first and last frames
// and times, counters, final states and TIME_WAIT, which unpackFlow takes
// from the core; that is about a fifth of a packed four-way verdict. Its
// sentences go through d (see textDict).
func packFlow(b []byte, f *Flow, d *textDict) []byte {
	b = append(b, byte(f.Class), byte(f.ActiveCloser), byte(f.Vantage), byte(f.StuckSide))
	b = binary.AppendUvarint(b, uint64(f.Flags))
	b = d.pack(b, f.VantageWhy)
	b = d.pack(b, f.Verdict)
	b = binary.AppendVarint(b, f.StuckFor)

	b = packLen(b, f.Decisive == nil, len(f.Decisive))
	for name, r := range f.Decisive {
		b = packWord(b, decisiveNames[:], name)
		b = packRef(b, FrameRef{File: r.File, Frame: r.Frame - f.First.Frame})
	}

	b = packLen(b, f.Events == nil, len(f.Events))
	// Each event relative to the one before: frame, time and timestamps
	// then take a byte or two; a header byte says what is left out
	// because it is as usual (see evServer and the bits after it).
	at, frame, file := f.FirstAt, f.First.Frame, f.First.File
	var tsval, tsecr uint32
	var win [2]uint32 // the last window of each side
	for i := range f.Events {
		e := &f.Events[i]
		var h byte
		if e.From != Client {
			h |= evServer
		}
		if e.HasTS {
			h |= evTS
		}
		if e.Notes != nil {
			h |= evNotes
		}
		if e.Elided != 0 {
			h |= evElided
		}
		if e.Rel != e.At-f.FirstAt {
			h |= evRel
		}
		side := int(e.From) & 1
		if e.Win == win[side] && e.From <= Server {
			h |= evSameWin
		}
		if e.File != file {
			h |= evFile
		}
		if e.Client >= 16 || e.Server >= 16 || e.From > Server {
			h |= evWide
		}
		b = append(b, h, byte(e.Flags))
		if h&evWide != 0 {
			b = append(b, byte(e.From), byte(e.Client), byte(e.Server))
		} else {
			b = append(b, byte(e.Client)|byte(e.Server)<<4)
		}
		if h&evFile != 0 {
			b = binary.AppendVarint(b, int64(e.File))
			file = e.File
		}
		b = binary.AppendVarint(b, e.Frame-frame)
		frame = e.Frame
		b = binary.AppendVarint(b, e.At-at)
		at = e.At
		if h&evRel != 0 {
			b = binary.AppendVarint(b, e.Rel-(e.At-f.FirstAt))
		}
		b = binary.AppendUvarint(b, uint64(e.Seq))
		b = binary.AppendUvarint(b, uint64(e.Ack))
		b = binary.AppendUvarint(b, uint64(e.Len))
		if h&evSameWin == 0 {
			b = binary.AppendUvarint(b, uint64(e.Win))
		}
		win[side] = e.Win
		b = binary.AppendVarint(b, int64(int32(e.TSval-tsval)))
		b = binary.AppendVarint(b, int64(int32(e.TSecr-tsecr)))
		tsval, tsecr = e.TSval, e.TSecr
		if h&evElided != 0 {
			b = binary.AppendVarint(b, int64(e.Elided))
		}
		if h&evNotes != 0 {
			b = binary.AppendUvarint(b, uint64(len(e.Notes)))
			for _, n := range e.Notes {
				b = packWord(b, noteWords[:], n)
			}
		}
	}

	if r := f.Reset; r == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1, byte(r.By))
		b = packRef(b, r.Frame)
		b = d.pack(b, r.Cause)
		b = d.pack(b, r.Evidence)
	}
	if ld := f.LateDuplicate; ld == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = packRef(b, ld.Frame)
		b = binary.AppendVarint(b, int64(ld.FromIncarnation))
		b = d.pack(b, ld.Answer)
		if ld.AnswerFrame == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = packRef(b, *ld.AnswerFrame)
		}
	}
	return b
}

// textDict compresses the sentences of packed verdicts (verdicts, the
// evidence for the vantage point and for an RST), which are most of a
// packed verdict and are made from a few templates with numbers in them: a
// sentence is packed as its runs of digits, as numbers, and the text
// between them, as indexes into a dictionary of such runs that grows as
// they are met. A digit run with a leading zero or of more than 19 digits,
// and text met when the dictionary is full, are packed as they are. The
// dictionary is bounded (dictMaxWords, dictMaxBytes) whatever the capture
// puts in the sentences (addresses, file names).
type textDict struct {
	words []string
	ids   map[string]uint64
	bytes int
	// recent saves most lookups in ids: a word found last time at its
	// slot (by length and first and last bytes).
	recent [256]struct {
		w  string
		id uint64
	}
}

const (
	dictMaxWords = 1 << 14
	dictMaxBytes = 1 << 20
)

// The tokens of a packed sentence: a uvarint tag, then a number (tagNumber)
// or a string (tagLiteral); tagWord+i is the dictionary's word i.
const (
	tagEnd uint64 = iota
	tagNumber
	tagLiteral
	tagWord
)

// pack appends the packed form of s to b.
func (d *textDict) pack(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := i
		if isDigit(s[i]) {
			var v uint64
			for ; j < len(s) && isDigit(s[j]); j++ {
				v = v*10 + uint64(s[j]-'0')
			}
			if run := s[i:j]; (run[0] == '0' && len(run) > 1) || len(run) > 19 {
				b = packString(append(b, byte(tagLiteral)), run)
			} else {
				b = binary.AppendUvarint(append(b, byte(tagNumber)), v)
			}
		} else {
			for j < len(s) && !isDigit(s[j]) {
				j++
			}
			b = d.packWord(b, s[i:j])
		}
		i = j
	}
	return append(b, byte(tagEnd))
}

// packWord appends w as a dictionary word, added if it is new and there is
// room, or else as it is.
func (d *textDict) packWord(b []byte, w string) []byte {
	r := &d.recent[(uint(len(w))*31+uint(w[0])*7+uint(w[len(w)-1]))&255]
	if r.w == w {
		return binary.AppendUvarint(b, tagWord+r.id)
	}
	id, ok := d.ids[w]
	if !ok && len(d.words) < dictMaxWords && d.bytes+len(w) <= dictMaxBytes {
		if d.ids == nil {
			d.ids = make(map[string]uint64)
		}
		w = strings.Clone(w) // not the sentence it came from
		id, ok = uint64(len(d.words)), true
		d.words = append(d.words, w)
		d.ids[w] = id
		d.bytes += len(w)
	}
	if !ok {
		return packString(append(b, byte(tagLiteral)), w)
	}
	r.w, r.id = d.words[id], id
	return binary.AppendUvarint(b, tagWord+id)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// The bits of a packed event's header byte.
const (
	evServer  = 1 << iota // sent by the server (with a narrow side and states)
	evTS                  // HasTS
	evNotes               // notes follow (nil without)
	evElided              // an elided count follows (0 without)
	evRel                 // Rel is not At less the flow's first time: the difference follows
	evSameWin             // the window is the last one of the same side: left out
	evFile                // the input differs from the event before's: it follows
	evWide                // side and states do not fit a byte: three bytes, not one
)

// decisiveNames are the names resultInto gives decisive frames.
var decisiveNames = [...]string{"syn", "synack", "client_fin", "server_fin", "first_fin", "second_fin",
	"final_ack", "retransmitted_fin", "rst", "dsack", "old_segment", "answer"}

// noteWords are the timeline notes: noteText, and those markLoss adds.
var noteWords = [len(noteText) + 2]string(append(noteText[:len(noteText):len(noteText)],
	"lost before reaching the client", "lost before reaching the server"))

// packWord writes s as its index in words plus one, or as 0 and the string
// when it is not among them.
func packWord(b []byte, words []string, s string) []byte {
	for i, w := range words {
		if w == s {
			return binary.AppendUvarint(b, uint64(i)+1)
		}
	}
	b = append(b, 0)
	return packString(b, s)
}

func packString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func packRef(b []byte, r FrameRef) []byte {
	b = binary.AppendVarint(b, int64(r.File))
	return binary.AppendVarint(b, r.Frame)
}

// packLen writes a length that keeps nil apart from empty: 0 for nil, n+1
// for n elements.
func packLen(b []byte, isNil bool, n int) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

// unpacker reads what packFlow wrote. The bytes are the analyzer's own, so
// a short read is a bug; it yields zero values rather than a panic. It
// reads a string through a byte view of it that it never writes to, so
// that the strings it returns are substrings of the packed one, not
// copies.
type unpacker struct {
	s string
	b []byte    // the rest of s, read-only
	d *textDict // what the sentences were packed with
}

func newUnpacker(s string) *unpacker {
	return &unpacker{s: s, b: unsafe.Slice(unsafe.StringData(s), len(s))}
}

func (u *unpacker) varint() int64 {
	v, n := binary.Varint(u.b)
	if n <= 0 {
		u.b = nil
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) uvarint() uint64 {
	v, n := binary.Uvarint(u.b)
	if n <= 0 {
		u.b = nil
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) byte() byte {
	if len(u.b) == 0 {
		return 0
	}
	c := u.b[0]
	u.b = u.b[1:]
	return c
}

func (u *unpacker) string() string {
	n := int(u.uvarint())
	at := len(u.s) - len(u.b)
	n = min(n, len(u.b))
	u.b = u.b[n:]
	return u.s[at : at+n]
}

// text reads what textDict.pack wrote: a new string.
func (u *unpacker) text() string {
	var buf [256]byte
	b := buf[:0]
	for {
		switch tag := u.uvarint(); {
		case tag == tagEnd:
			return string(b)
		case tag == tagNumber:
			b = strconv.AppendUint(b, u.uvarint(), 10)
		case tag == tagLiteral:
			b = append(b, u.string()...)
		case tag-tagWord < uint64(len(u.d.words)):
			b = append(b, u.d.words[tag-tagWord]...)
		default:
			return string(b) // not the analyzer's own bytes
		}
	}
}

// word reads what packWord wrote.
func (u *unpacker) word(words []string) string {
	i := u.uvarint()
	if i == 0 {
		// A copy: the packed bytes may be reused once unpacked (see
		// pkStore.get).
		return strings.Clone(u.string())
	}
	if i <= uint64(len(words)) {
		return words[i-1]
	}
	return ""
}

func (u *unpacker) ref() FrameRef {
	return FrameRef{File: int(u.varint()), Frame: u.varint()}
}

// len reads a packLen length; ok is false for nil.
func (u *unpacker) len() (n int, ok bool) {
	v := u.uvarint()
	if v == 0 {
		return 0, false
	}
	return int(v - 1), true
}

// unpackFlow rebuilds in f, whose core fields are set (see coreInto), the
// rest of the Flow that packFlow packed into s with d, in the reused
// buffers of out when it is not nil (see Config.Reuse), else in new ones.
func unpackFlow(s string, f *Flow, out *outBuf, d *textDict) {
	u := newUnpacker(s)
	u.d = d
	f.Class, f.ActiveCloser, f.Vantage = Class(u.byte()), Closer(u.byte()), Vantage(u.byte())
	f.StuckSide = Side(u.byte())
	f.Flags = Flags(u.uvarint())
	f.VantageWhy = u.text()
	f.Verdict = u.text()
	f.StuckFor = u.varint()

	if n, ok := u.len(); ok {
		f.Decisive = out.decisive(n)
		for range n {
			name := u.word(decisiveNames[:])
			r := u.ref()
			r.Frame += f.First.Frame
			f.Decisive[name] = r
		}
	}

	if n, ok := u.len(); ok {
		f.Events = out.events(n)[:n]
		clear(f.Events)
		at, frame, file := f.FirstAt, f.First.Frame, f.First.File
		var tsval, tsecr uint32
		var win [2]uint32
		for i := range f.Events {
			e := &f.Events[i]
			h := u.byte()
			e.Flags = reassembly.Flags(u.byte())
			if h&evWide != 0 {
				e.From, e.Client, e.Server = Side(u.byte()), State(u.byte()), State(u.byte())
			} else {
				st := u.byte()
				e.From, e.Client, e.Server = Client, State(st&15), State(st>>4)
				if h&evServer != 0 {
					e.From = Server
				}
			}
			e.HasTS = h&evTS != 0
			if h&evFile != 0 {
				file = int(u.varint())
			}
			e.File = file
			e.Frame = frame + u.varint()
			frame = e.Frame
			e.At = at + u.varint()
			at = e.At
			e.Rel = e.At - f.FirstAt
			if h&evRel != 0 {
				e.Rel += u.varint()
			}
			e.Seq, e.Ack, e.Len = uint32(u.uvarint()), uint32(u.uvarint()), uint32(u.uvarint())
			side := int(e.From) & 1
			e.Win = win[side]
			if h&evSameWin == 0 {
				e.Win = uint32(u.uvarint())
			}
			win[side] = e.Win
			e.TSval = tsval + uint32(u.varint())
			e.TSecr = tsecr + uint32(u.varint())
			tsval, tsecr = e.TSval, e.TSecr
			if h&evElided != 0 {
				e.Elided = int(u.varint())
			}
			if h&evNotes != 0 {
				e.Notes = make([]string, u.uvarint())
				for j := range e.Notes {
					e.Notes[j] = u.word(noteWords[:])
				}
			}
		}
	}

	if u.byte() == 1 {
		r := out.reset()
		r.By = Side(u.byte())
		r.Frame = u.ref()
		r.Cause = u.text()
		r.Evidence = u.text()
		f.Reset = r
	}
	if u.byte() == 1 {
		ld := out.lateDup()
		ld.Frame, ld.FromIncarnation = u.ref(), int(u.varint())
		ld.Answer = u.text()
		if u.byte() == 1 {
			ld.AnswerFrame = out.answerFrame()
			*ld.AnswerFrame = u.ref()
		}
		f.LateDuplicate = ld
	}
}
