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

// jenc appends JSON values to b, laid out as encoding/json's Encoder lays
// them out: compact when indent is "", else one member per line, each
// line after the first starting with prefix and one indent per level,
// empty objects and arrays kept as {} and [].
type jenc struct {
	b      []byte
	prefix string // before every line after the first, when indenting
	indent string // one level of indentation; "" for compact output
	depth  int    // open objects and arrays
	empty  bool   // nothing written yet in the innermost open object or array
}

// newline starts a line at the current depth.
func (e *jenc) newline() {
	e.b = append(e.b, '\n')
	e.b = append(e.b, e.prefix...)
	for range e.depth {
		e.b = append(e.b, e.indent...)
	}
}

// next separates a member or element from the previous one.
func (e *jenc) next() {
	if !e.empty {
		e.b = append(e.b, ',')
	}
	e.empty = false
	if e.indent != "" {
		e.newline()
	}
}

// open starts an object ('{') or an array ('[').
func (e *jenc) open(c byte) {
	e.b = append(e.b, c)
	e.depth++
	e.empty = true
}

// close ends the innermost object ('}') or array (']').
func (e *jenc) close(c byte) {
	e.depth--
	if !e.empty && e.indent != "" {
		e.newline()
	}
	e.b = append(e.b, c)
	e.empty = false
}

// key starts an object member: k is its quoted name and a colon,
// `"id":`, with nothing in the name to escape.
func (e *jenc) key(k string) {
	if e.indent != "" {
		e.next()
		e.b = append(e.b, k...)
		e.b = append(e.b, ' ')
		return
	}
	if !e.empty {
		e.b = append(e.b, ',')
	}
	e.empty = false
	e.b = append(e.b, k...)
}

// keyString starts an object member whose name k may need escaping.
func (e *jenc) keyString(k string) {
	e.next()
	e.b = appendJSONString(e.b, k, false)
	e.colon()
}

func (e *jenc) colon() {
	if e.indent != "" {
		e.b = append(e.b, ':', ' ')
	} else {
		e.b = append(e.b, ':')
	}
}

func (e *jenc) str(s string)  { e.b = appendJSONString(e.b, s, false) }
func (e *jenc) int(n int64)   { e.b = strconv.AppendInt(e.b, n, 10) }
func (e *jenc) uint(n uint64) { e.b = strconv.AppendUint(e.b, n, 10) }
func (e *jenc) null()         { e.b = append(e.b, "null"...) }
func (e *jenc) bool(v bool)   { e.b = strconv.AppendBool(e.b, v) }

// seconds writes a duration in nanoseconds as seconds with six decimals.
func (e *jenc) seconds(ns int64) { e.b = appendSeconds(e.b, ns) }

// time writes Unix nanoseconds as an RFC 3339 string (see fmtTime).
func (e *jenc) time(ns int64) {
	e.b = append(e.b, '"')
	e.b = appendTime(e.b, ns)
	e.b = append(e.b, '"')
}

// addrPort writes an endpoint as a string (see reassembly.AddrPort.String).
func (e *jenc) addrPort(a reassembly.AddrPort) {
	e.b = append(e.b, '"')
	e.b = appendAddrPort(e.b, a)
	e.b = append(e.b, '"')
}

// intPair writes {"client": c, "server": s}.
func (e *jenc) intPair(c, s int64) {
	e.open('{')
	e.key(`"client":`)
	e.int(c)
	e.key(`"server":`)
	e.int(s)
	e.close('}')
}

// appendFlow appends f as the json and ndjson outputs write a flow (the
// package documentation lists its keys): with the "type":"flow" member
// first when typ is set (ndjson), laid out by prefix and indent as
// encoding/json's Encoder.SetIndent would (indent "" for one line). It
// allocates nothing of its own once dst and the Writer's scratch space
// have grown, except to name an input outside Options.Inputs or an
// out-of-range class, state, vantage or closer ("Class(N)").
func (w *Writer) appendFlow(dst []byte, f *analyzer.Flow, typ bool, prefix, indent string) []byte {
	e := jenc{b: dst, prefix: prefix, indent: indent}
	e.open('{')
	if typ {
		e.key(`"type":`)
		e.str("flow")
	}
	e.key(`"id":`)
	e.int(int64(f.ID))
	e.key(`"stream":`)
	e.int(int64(f.Stream))
	e.key(`"client":`)
	e.addrPort(f.Client)
	e.key(`"community_id":`)
	e.b = append(e.b, '"')
	e.b = appendFlowCommunityID(e.b, f)
	e.b = append(e.b, '"')
	e.key(`"server":`)
	e.addrPort(f.Server)
	e.key(`"incarnation":`)
	e.int(int64(f.Incarnation))
	e.key(`"dir_guessed":`)
	e.bool(f.DirGuessed)
	e.key(`"class":`)
	e.str(f.Class.String())
	e.key(`"flags":`)
	e.open('[')
	for i, n := range flagNames {
		if uint16(f.Flags)&(1<<i) != 0 {
			e.next()
			e.str(n)
		}
	}
	e.close(']')
	e.key(`"active_closer":`)
	e.str(f.ActiveCloser.String())
	e.key(`"vantage":`)
	e.str(f.Vantage.String())
	e.key(`"vantage_why":`)
	e.str(f.VantageWhy)
	e.key(`"verdict":`)
	e.str(f.Verdict)
	e.key(`"first_frame":`)
	w.appendCite(&e, f.First)
	e.key(`"last_frame":`)
	w.appendCite(&e, f.Last)
	e.key(`"first_time":`)
	e.time(f.FirstAt)
	e.key(`"last_time":`)
	e.time(f.LastAt)
	e.key(`"duration":`)
	e.seconds(f.LastAt - f.FirstAt)
	e.key(`"packets":`)
	e.intPair(f.Packets[0], f.Packets[1])
	e.key(`"bytes":`)
	e.open('{')
	e.key(`"client":`)
	e.uint(f.Bytes[0])
	e.key(`"server":`)
	e.uint(f.Bytes[1])
	e.close('}')
	e.key(`"final_state":`)
	e.open('{')
	e.key(`"client":`)
	e.str(f.FinalState[0].String())
	e.key(`"server":`)
	e.str(f.FinalState[1].String())
	e.close('}')

	e.key(`"time_wait":`)
	e.open('[')
	for side := analyzer.Client; side <= analyzer.Server; side++ {
		if u := f.TimeWaitUntil[side]; u != 0 {
			e.next()
			e.open('{')
			e.key(`"side":`)
			e.str(side.String())
			e.key(`"host":`)
			e.addrPort(endpoint(f, side))
			e.key(`"until":`)
			e.time(u)
			e.close('}')
		}
	}
	e.close(']')

	e.key(`"stuck":`)
	if f.StuckFor > 0 {
		side := f.StuckSide & 1
		e.open('{')
		e.key(`"side":`)
		e.str(side.String())
		e.key(`"host":`)
		e.addrPort(endpoint(f, side))
		e.key(`"state":`)
		e.str(f.FinalState[side].String())
		e.key(`"peer_state":`)
		e.str(f.FinalState[side.Other()].String())
		e.key(`"for":`)
		e.seconds(f.StuckFor)
		e.close('}')
	} else {
		e.null()
	}

	e.key(`"reset":`)
	if r := f.Reset; r != nil {
		e.open('{')
		e.key(`"by":`)
		e.str((r.By & 1).String())
		e.key(`"frame":`)
		w.appendCite(&e, r.Frame)
		e.key(`"cause":`)
		e.str(r.Cause)
		e.key(`"evidence":`)
		e.str(r.Evidence)
		e.close('}')
	} else {
		e.null()
	}

	e.key(`"late_duplicate":`)
	if d := f.LateDuplicate; d != nil {
		e.open('{')
		e.key(`"frame":`)
		w.appendCite(&e, d.Frame)
		e.key(`"from_incarnation":`)
		e.int(int64(d.FromIncarnation))
		e.key(`"answer":`)
		e.str(d.Answer)
		e.key(`"answer_frame":`)
		if d.AnswerFrame != nil {
			w.appendCite(&e, *d.AnswerFrame)
		} else {
			e.null()
		}
		e.close('}')
	} else {
		e.null()
	}

	e.key(`"decisive":`)
	e.open('{')
	if len(f.Decisive) > 0 {
		keys := w.jsonKeys[:0]
		for k := range f.Decisive {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json sorts map keys by their bytes
		for _, k := range keys {
			e.keyString(k)
			w.appendCite(&e, f.Decisive[k])
		}
		clear(keys)
		w.jsonKeys = keys[:0]
	}
	e.close('}')

	e.key(`"events":`)
	e.open('[')
	for i := range f.Events {
		e.next()
		w.appendEvent(&e, &f.Events[i])
	}
	e.close(']')
	e.close('}')
	return e.b
}

// appendEvent writes one timeline event.
func (w *Writer) appendEvent(e *jenc, ev *analyzer.Event) {
	e.open('{')
	e.key(`"frame":`)
	e.int(ev.Frame)
	e.key(`"file":`)
	e.b = w.appendInputName(e.b, ev.File)
	e.key(`"time":`)
	e.time(ev.At)
	e.key(`"rel":`)
	e.seconds(ev.Rel)
	e.key(`"direction":`)
	e.str(direction(ev.From))
	e.key(`"flags":`)
	e.b = append(e.b, '"')
	e.b = appendTCPFlags(e.b, ev.Flags)
	e.b = append(e.b, '"')
	e.key(`"seq":`)
	e.uint(uint64(ev.Seq))
	e.key(`"ack":`)
	e.uint(uint64(ev.Ack))
	e.key(`"len":`)
	e.uint(uint64(ev.Len))
	e.key(`"win":`)
	e.uint(uint64(ev.Win))
	if ev.TSval != 0 {
		e.key(`"tsval":`)
		e.uint(uint64(ev.TSval))
	}
	if ev.TSecr != 0 {
		e.key(`"tsecr":`)
		e.uint(uint64(ev.TSecr))
	}
	e.key(`"notes":`)
	e.open('[')
	for _, n := range ev.Notes {
		e.next()
		e.str(n)
	}
	e.close(']')
	e.key(`"client_state":`)
	e.str(ev.Client.String())
	e.key(`"server_state":`)
	e.str(ev.Server.String())
	e.key(`"elided":`)
	e.int(int64(ev.Elided))
	e.close('}')
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
func (w *Writer) appendCite(e *jenc, r analyzer.FrameRef) {
	if r.Frame <= 0 {
		e.null()
		return
	}
	if w.multi() {
		if name := w.inputName(r.File); name != "" {
			e.b = appendJSONString(e.b, name, true)
			e.b[len(e.b)-1] = ':' // replaces the closing quote
			e.b = strconv.AppendInt(e.b, r.Frame, 10)
			e.b = append(e.b, '"')
			return
		}
	}
	e.int(r.Frame)
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

// appendAddrPort appends a as reassembly.AddrPort.String writes it:
// "198.18.0.1:40000", "[2001:db8::1]:40000".
func appendAddrPort(dst []byte, a reassembly.AddrPort) []byte {
	ip := a.Addr.Netip()
	if ip.Is4() {
		dst = ip.AppendTo(dst)
	} else {
		dst = append(dst, '[')
		dst = ip.AppendTo(dst)
		dst = append(dst, ']')
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(a.Port), 10)
}

// appendTime appends Unix nanoseconds as fmtTime writes them.
func appendTime(dst []byte, ns int64) []byte {
	return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
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
