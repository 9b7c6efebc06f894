package report

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"teardown/analyzer"
	"teardown/reassembly"
)

// Flows are the bulk of the json and ndjson output, so they are not
// written with encoding/json: appendFlow writes them directly, byte for
// byte as encoding/json would write the jsonFlow value in
// jsonref_test.go (with SetEscapeHTML(false), SetIndent for json, and
// escapeJSON applied afterwards), but without reflection, without an
// intermediate value per flow and without a second pass over the output.
// The tests compare both on every committed capture, on the fixtures and
// on random flows.

// jenc appends JSON values to a byte slice, laid out as encoding/json's
// Encoder lays them out: compact when indent is "", else one member per
// line, each line after the first starting with prefix and one indent per
// level, empty objects and arrays kept as {} and []. Its methods take the
// slice and return it grown, as append does: the slice stays in the
// callers' local variables, where growing it needs no write barrier.
type jenc struct {
	prefix string // before every line after the first, when indenting
	indent string // one level of indentation; "" for compact output
	depth  int    // open objects and arrays
	empty  bool   // nothing written yet in the innermost open object or array
	clock  *clock // the last second written
}

// newline starts a line at the current depth.
func (e *jenc) newline(b []byte) []byte {
	b = append(b, '\n')
	b = append(b, e.prefix...)
	for range e.depth {
		b = append(b, e.indent...)
	}
	return b
}

// next separates a member or element from the previous one.
func (e *jenc) next(b []byte) []byte {
	if !e.empty {
		b = append(b, ',')
	}
	e.empty = false
	if e.indent != "" {
		b = e.newline(b)
	}
	return b
}

// open starts an object ('{') or an array ('[').
func (e *jenc) open(b []byte, c byte) []byte {
	e.depth++
	e.empty = true
	return append(b, c)
}

// close ends the innermost object ('}') or array (']').
func (e *jenc) close(b []byte, c byte) []byte {
	e.depth--
	if !e.empty && e.indent != "" {
		b = e.newline(b)
	}
	e.empty = false
	return append(b, c)
}

// key starts an object member: k is its quoted name and a colon,
// `"id":`, with nothing in the name to escape.
func (e *jenc) key(b []byte, k string) []byte {
	if e.indent != "" || e.empty {
		return e.keyRare(b, k)
	}
	b = append(b, ',')
	return append(b, k...)
}

// keyRare is key for the first member of an object, or when indenting;
// key itself only handles the common case.
func (e *jenc) keyRare(b []byte, k string) []byte {
	b = e.next(b)
	b = append(b, k...)
	if e.indent != "" {
		b = append(b, ' ')
	}
	return b
}

// keyString starts an object member whose name k may need escaping.
func (e *jenc) keyString(b []byte, k string) []byte {
	b = e.next(b)
	b = appendJSONString(b, k, false)
	return e.colon(b)
}

func (e *jenc) colon(b []byte) []byte {
	if e.indent != "" {
		return append(b, ':', ' ')
	}
	return append(b, ':')
}

func (e *jenc) str(b []byte, s string) []byte { return appendJSONString(b, s, false) }
func (e *jenc) int(b []byte, n int64) []byte  { return strconv.AppendInt(b, n, 10) }
func (e *jenc) uint(b []byte, n uint64) []byte {
	return strconv.AppendUint(b, n, 10)
}
func (e *jenc) null(b []byte) []byte         { return append(b, "null"...) }
func (e *jenc) bool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// seconds writes a duration in nanoseconds as seconds with six decimals.
func (e *jenc) seconds(b []byte, ns int64) []byte { return appendSeconds(b, ns) }

// time writes Unix nanoseconds as an RFC 3339 string (see fmtTime).
func (e *jenc) time(b []byte, ns int64) []byte {
	b = append(b, '"')
	b = e.clock.appendTime(b, ns)
	return append(b, '"')
}

// addrPort writes an endpoint as a string (see reassembly.AddrPort.String).
func (e *jenc) addrPort(b []byte, a reassembly.AddrPort) []byte {
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

// intPair writes {"client": c, "server": s}.
func (e *jenc) intPair(b []byte, c, s int64) []byte {
	b = e.open(b, '{')
	b = e.key(b, `"client":`)
	b = e.int(b, c)
	b = e.key(b, `"server":`)
	b = e.int(b, s)
	return e.close(b, '}')
}

// appendFlow appends f as the json and ndjson outputs write a flow (the
// package documentation lists its keys): with the "type":"flow" member
// first when typ is set (ndjson), laid out by prefix and indent as
// encoding/json's Encoder.SetIndent would (indent "" for one line). It
// allocates nothing of its own once dst and the Writer's scratch space
// have grown, except to name an input outside Options.Inputs or an
// out-of-range class, state, vantage or closer ("Class(N)").
func (w *Writer) appendFlow(dst []byte, f *analyzer.Flow, typ bool, prefix, indent string) []byte {
	e := jenc{prefix: prefix, indent: indent, clock: &w.jsonClock}
	b := dst
	b = e.open(b, '{')
	if typ {
		b = e.key(b, `"type":`)
		b = e.str(b, "flow")
	}
	b = e.key(b, `"id":`)
	b = e.int(b, int64(f.ID))
	b = e.key(b, `"stream":`)
	b = e.int(b, int64(f.Stream))
	b = e.key(b, `"client":`)
	b = e.addrPort(b, f.Client)
	b = e.key(b, `"community_id":`)
	b = append(b, '"')
	b = appendFlowCommunityID(b, f)
	b = append(b, '"')
	b = e.key(b, `"server":`)
	b = e.addrPort(b, f.Server)
	b = e.key(b, `"incarnation":`)
	b = e.int(b, int64(f.Incarnation))
	b = e.key(b, `"dir_guessed":`)
	b = e.bool(b, f.DirGuessed)
	b = e.key(b, `"class":`)
	b = e.str(b, f.Class.String())
	b = e.key(b, `"flags":`)
	b = e.open(b, '[')
	for i, n := range flagNames {
		if uint16(f.Flags)&(1<<i) != 0 {
			b = e.next(b)
			b = e.str(b, n)
		}
	}
	b = e.close(b, ']')
	b = e.key(b, `"active_closer":`)
	b = e.str(b, f.ActiveCloser.String())
	b = e.key(b, `"vantage":`)
	b = e.str(b, f.Vantage.String())
	b = e.key(b, `"vantage_why":`)
	b = e.str(b, f.VantageWhy)
	b = e.key(b, `"verdict":`)
	b = e.str(b, f.Verdict)
	b = e.key(b, `"first_frame":`)
	b = w.appendCite(b, &e, f.First)
	b = e.key(b, `"last_frame":`)
	b = w.appendCite(b, &e, f.Last)
	b = e.key(b, `"first_time":`)
	b = e.time(b, f.FirstAt)
	b = e.key(b, `"last_time":`)
	b = e.time(b, f.LastAt)
	b = e.key(b, `"duration":`)
	b = e.seconds(b, f.LastAt-f.FirstAt)
	b = e.key(b, `"packets":`)
	b = e.intPair(b, f.Packets[0], f.Packets[1])
	b = e.key(b, `"bytes":`)
	b = e.open(b, '{')
	b = e.key(b, `"client":`)
	b = e.uint(b, f.Bytes[0])
	b = e.key(b, `"server":`)
	b = e.uint(b, f.Bytes[1])
	b = e.close(b, '}')
	b = e.key(b, `"final_state":`)
	b = e.open(b, '{')
	b = e.key(b, `"client":`)
	b = e.str(b, f.FinalState[0].String())
	b = e.key(b, `"server":`)
	b = e.str(b, f.FinalState[1].String())
	b = e.close(b, '}')

	b = e.key(b, `"time_wait":`)
	b = e.open(b, '[')
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			b = e.next(b)
			b = e.open(b, '{')
			b = e.key(b, `"side":`)
			b = e.str(b, side.String())
			b = e.key(b, `"host":`)
			b = e.addrPort(b, endpoint(f, side))
			b = e.key(b, `"until":`)
			b = e.time(b, u)
			b = e.close(b, '}')
		}
	}
	b = e.close(b, ']')

	b = e.key(b, `"stuck":`)
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		b = e.open(b, '{')
		b = e.key(b, `"side":`)
		b = e.str(b, side.String())
		b = e.key(b, `"host":`)
		b = e.addrPort(b, endpoint(f, side))
		b = e.key(b, `"state":`)
		b = e.str(b, f.FinalState[side].String())
		b = e.key(b, `"peer_state":`)
		b = e.str(b, f.FinalState[side.Other()].String())
		b = e.key(b, `"for":`)
		b = e.seconds(b, f.StuckFor)
		b = e.close(b, '}')
	} else {
		b = e.null(b)
	}

	b = e.key(b, `"reset":`)
	if r := f.Reset; r != nil {
		b = e.open(b, '{')
		b = e.key(b, `"by":`)
		b = e.str(b, (r.By & 1).String())
		b = e.key(b, `"frame":`)
		b = w.appendCite(b, &e, r.Frame)
		b = e.key(b, `"cause":`)
		b = e.str(b, r.Cause)
		b = e.key(b, `"evidence":`)
		b = e.str(b, r.Evidence)
		b = e.close(b, '}')
	} else {
		b = e.null(b)
	}

	b = e.key(b, `"late_duplicate":`)
	if d := f.LateDuplicate; d != nil {
		b = e.open(b, '{')
		b = e.key(b, `"frame":`)
		b = w.appendCite(b, &e, d.Frame)
		b = e.key(b, `"from_incarnation":`)
		b = e.int(b, int64(d.FromIncarnation))
		b = e.key(b, `"answer":`)
		b = e.str(b, d.Answer)
		b = e.key(b, `"answer_frame":`)
		if d.AnswerFrame != nil {
			b = w.appendCite(b, &e, *d.AnswerFrame)
		} else {
			b = e.null(b)
		}
		b = e.close(b, '}')
	} else {
		b = e.null(b)
	}

	b = e.key(b, `"decisive":`)
	b = e.open(b, '{')
	if len(f.Decisive) > 0 {
		keys := w.jsonKeys[:0]
		for k := range f.Decisive {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json sorts map keys by their bytes
		for _, k := range keys {
			b = e.keyString(b, k)
			b = w.appendCite(b, &e, f.Decisive[k])
		}
		clear(keys)
		w.jsonKeys = keys[:0]
	}
	b = e.close(b, '}')

	b = e.key(b, `"events":`)
	b = e.open(b, '[')
	for i := range f.Events {
		b = e.next(b)
		b = w.appendEvent(b, &e, &f.Events[i])
	}
	b = e.close(b, ']')
	b = e.close(b, '}')
	return b
}

// appendEvent writes one timeline event.
func (w *Writer) appendEvent(b []byte, e *jenc, ev *analyzer.Event) []byte {
	b = e.open(b, '{')
	b = e.key(b, `"frame":`)
	b = e.int(b, ev.Frame)
	b = e.key(b, `"file":`)
	b = w.appendInputName(b, ev.File)
	b = e.key(b, `"time":`)
	b = e.time(b, ev.At)
	b = e.key(b, `"rel":`)
	b = e.seconds(b, ev.Rel)
	b = e.key(b, `"direction":`)
	b = e.str(b, direction(ev.From))
	b = e.key(b, `"flags":`)
	b = append(b, '"')
	b = appendTCPFlags(b, ev.Flags)
	b = append(b, '"')
	b = e.key(b, `"seq":`)
	b = e.uint(b, uint64(ev.Seq))
	b = e.key(b, `"ack":`)
	b = e.uint(b, uint64(ev.Ack))
	b = e.key(b, `"len":`)
	b = e.uint(b, uint64(ev.Len))
	b = e.key(b, `"win":`)
	b = e.uint(b, uint64(ev.Win))
	if ev.TSval != 0 {
		b = e.key(b, `"tsval":`)
		b = e.uint(b, uint64(ev.TSval))
	}
	if ev.TSecr != 0 {
		b = e.key(b, `"tsecr":`)
		b = e.uint(b, uint64(ev.TSecr))
	}
	b = e.key(b, `"notes":`)
	b = e.open(b, '[')
	for _, n := range ev.Notes {
		b = e.next(b)
		b = e.str(b, n)
	}
	b = e.close(b, ']')
	b = e.key(b, `"client_state":`)
	b = e.str(b, ev.Client.String())
	b = e.key(b, `"server_state":`)
	b = e.str(b, ev.Server.String())
	b = e.key(b, `"elided":`)
	b = e.int(b, int64(ev.Elided))
	return e.close(b, '}')
}

// appendInputName appends the name of input i as a JSON string. The names
// in Options.Inputs are escaped once, as every event repeats one.
func (w *Writer) appendInputName(dst []byte, i int) []byte {
	if i < 0 || i >= len(w.opts.Inputs) {
		return appendJSONString(dst, w.inputName(i), false)
	}
	if w.jsonNames == nil {
		w.jsonNames = make([][]byte, len(w.opts.Inputs))
		for j, n := range w.opts.Inputs {
			w.jsonNames[j] = appendJSONString(nil, n, false)
		}
	}
	return append(dst, w.jsonNames[i]...)
}

// appendCite writes a frame citation: a number with one input, a
// "FILE:FRAME" string with several (a number again when FILE is empty),
// null for an unknown frame. The string is escaped as json.Marshal escapes
// it, HTML characters included, as the reflection-based encoder did.
func (w *Writer) appendCite(b []byte, e *jenc, r analyzer.FrameRef) []byte {
	if r.Frame <= 0 {
		return e.null(b)
	}
	if w.multi() {
		if name := w.inputName(r.File); name != "" {
			b = appendJSONString(b, name, true)
			b[len(b)-1] = ':' // replaces the closing quote
			b = strconv.AppendInt(b, r.Frame, 10)
			return append(b, '"')
		}
	}
	return e.int(b, r.Frame)
}

// appendTCPFlags appends f as reassembly.Flags.String writes it.
func appendTCPFlags(dst []byte, f reassembly.Flags) []byte {
	n := len(dst)
	for _, x := range [...]struct {
		f reassembly.Flags
		c byte
	}{
		{reassembly.FlagSYN, 'S'}, {reassembly.FlagFIN, 'F'}, {reassembly.FlagRST, 'R'}, {reassembly.FlagPSH, 'P'},
		{reassembly.FlagURG, 'U'}, {reassembly.FlagECE, 'E'}, {reassembly.FlagCWR, 'W'}, {reassembly.FlagACK, '.'},
	} {
		if f&x.f != 0 {
			dst = append(dst, x.c)
		}
	}
	if len(dst) == n {
		dst = append(dst, "none"...)
	}
	return dst
}

// appendTime appends Unix nanoseconds as fmtTime writes them: as
// time.Time.AppendFormat writes them in UTC with time.RFC3339Nano, which
// it calls for times before 1970 (an int64 of nanoseconds ends in 2262).
func appendTime(dst []byte, ns int64) []byte {
	var c clock
	return c.appendTime(dst, ns)
}

// clock formats times as appendTime does, and remembers the date and time
// of day of the last second it formatted: the times of a flow's events
// mostly share it.
type clock struct {
	sec  int64
	text [len("2006-01-02T15:04:05")]byte
	ok   bool
}

func (c *clock) appendTime(dst []byte, ns int64) []byte {
	if ns < 0 {
		return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	if sec := ns / 1e9; !c.ok || sec != c.sec {
		c.sec, c.ok = sec, true
		c.set(sec)
	}
	dst = append(dst, c.text[:]...)
	if frac := ns % 1e9; frac != 0 {
		var d [10]byte
		d[0] = '.'
		for i := 9; i > 0; i-- {
			d[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := len(d)
		for d[n-1] == '0' {
			n--
		}
		dst = append(dst, d[:n]...)
	}
	return append(dst, 'Z')
}

// set formats sec, seconds since 1970, into c.text.
func (c *clock) set(sec int64) {
	days, sod := sec/86400, sec%86400
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	y := yoe + era*400
	if m <= 2 {
		y++
	}
	b := &c.text
	put2 := func(i int, v int64) { b[i], b[i+1] = byte('0'+v/10), byte('0'+v%10) }
	put2(0, y/100)
	put2(2, y%100)
	b[4] = '-'
	put2(5, m)
	b[7] = '-'
	put2(8, d)
	b[10] = 'T'
	put2(11, sod/3600)
	b[13] = ':'
	put2(14, sod/60%60)
	b[16] = ':'
	put2(17, sod%60)
}

// appendSeconds appends ns nanoseconds as seconds rounded to the
// microsecond with six decimals: "1.250000", "-0.000001".
func appendSeconds(dst []byte, ns int64) []byte {
	u := uint64(ns)
	if ns < 0 {
		u = -u
	}
	us := (u + 500) / 1000
	if ns < 0 && us != 0 {
		dst = append(dst, '-')
	}
	dst = strconv.AppendUint(dst, us/1e6, 10)
	frac := us % 1e6
	var d [7]byte
	d[0] = '.'
	for i := 6; i > 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, d[:]...)
}

// appendCommunityID appends CommunityID(seed, proto, src, dst) to b
// without allocating.
func appendCommunityID(b []byte, seed uint16, proto uint8, src, dst netip.AddrPort) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() != da.Is4() || !sa.IsValid() || !da.IsValid() {
		return b
	}
	sp, dp := src.Port(), dst.Port()
	if c := sa.Compare(da); c > 0 || (c == 0 && sp > dp) {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var buf [2 + 16 + 16 + 2 + 4]byte
	in := binary.BigEndian.AppendUint16(buf[:0], seed)
	if sa.Is4() {
		a4, d4 := sa.As4(), da.As4()
		in = append(in, a4[:]...)
		in = append(in, d4[:]...)
	} else {
		a16, d16 := sa.As16(), da.As16()
		in = append(in, a16[:]...)
		in = append(in, d16[:]...)
	}
	in = append(in, proto, 0)
	in = binary.BigEndian.AppendUint16(in, sp)
	in = binary.BigEndian.AppendUint16(in, dp)
	sum := sha1.Sum(in)
	b = append(b, "1:"...)
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

// appendFlowCommunityID appends the Community ID (seed 0) of a flow's
// 5-tuple, as flowCommunityID returns it.
func appendFlowCommunityID(b []byte, f *analyzer.Flow) []byte {
	c := netip.AddrPortFrom(f.Client.Addr.Netip(), f.Client.Port)
	s := netip.AddrPortFrom(f.Server.Addr.Netip(), f.Server.Port)
	return appendCommunityID(b, 0, ProtoTCP, c, s)
}

// flagNames are the flags' API names, in bit order (analyzer.Flags).
var flagNames = analyzer.FlagNames()

// jsonSafe marks the bytes encoding/json writes as they are in a string
// with HTML escaping off: printable ASCII and DEL, but not '"' and '\\'.
// jsonHTMLSafe, for HTML escaping on, leaves out '<', '>' and '&' too.
// Bytes of multi-byte runes are not marked: they need a closer look.
var jsonSafe, jsonHTMLSafe = func() (t, h [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
		h[c] = t[c] && c != '<' && c != '>' && c != '&'
	}
	return t, h
}()

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it (escaping <, > and & only when html is set), followed by
// escapeJSON: C0 controls, '"' and '\\' are escaped as encoding/json does
// (\n, \t, \u001b, ...), invalid UTF-8 becomes \ufffd, and the runes
// unsafeRune rejects (C1 controls, bidi formatting characters, U+2028,
// U+2029) become \uXXXX.
func appendJSONString(dst []byte, s string, html bool) []byte {
	const hex = "0123456789abcdef"
	safe := &jsonSafe
	if html {
		safe = &jsonHTMLSafe
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Runs of printable ASCII without '"' and '\\' (nor HTML
		// characters) are copied as they are: skip them eight bytes at a
		// time.
		for !html && i+8 <= len(s) {
			x := load8(s, i)
			if !printable8(x) || hasByte8(x, '"') || hasByte8(x, '\\') {
				break
			}
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are among them, as encoding/json escapes them.
		// Each is below U+10000: four hex digits.
		if unsafeRune(r) {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
