package report

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes s safe to print on a terminal. A capture is untrusted
// input: file and interface names, comments and anything derived from them
// could carry escape sequences that move the cursor, rewrite earlier lines
// or reorder text. Sanitize replaces every control character (C0, DEL and
// the C1 range, CR and LF included), the Unicode bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), the
// line and paragraph separators (U+2028, U+2029) and bytes that are not
// valid UTF-8 with Go-style escapes: ESC becomes \x1b, U+202E becomes
// \u202e. Everything else, backslashes included, is kept as is.
func Sanitize(s string) string {
	i := safePrefix(s)
	if i == len(s) {
		return s
	}
	return string(appendSanitizedFrom(make([]byte, 0, len(s)+16), s, i))
}

// appendSanitized appends Sanitize(s) to b.
func appendSanitized(b []byte, s string) []byte {
	return appendSanitizedFrom(b, s, safePrefix(s))
}

// safePrefix returns the length of the printable ASCII prefix of s.
func safePrefix(s string) int {
	i := 0
	for i+8 <= len(s) && printable8(load8(s, i)) {
		i += 8
	}
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	return i
}

// Eight bytes at a time: swar1 has 1, swarHigh 0x80 in every byte.
const (
	swar1    = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// load8 returns s[i:i+8] as a little-endian integer.
func load8(s string, i int) uint64 {
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// printable8 reports whether the eight bytes in x are all printable ASCII
// (0x20 to 0x7e). It may say false for some that are.
func printable8(x uint64) bool {
	return ((x-0x20*swar1)|(x+swar1)|x)&swarHigh == 0
}

// hasByte8 reports whether one of the eight bytes in x is c. It may say
// true for some that are not (only after one that is).
func hasByte8(x uint64, c byte) bool {
	v := x ^ (swar1 * uint64(c))
	return (v-swar1)&^v&swarHigh != 0
}

// appendSanitizedFrom appends Sanitize(s) to b, given that s[:i] is
// printable ASCII.
func appendSanitizedFrom(b []byte, s string, i int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			start := i
			for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
				i++
			}
			b = append(b, s[start:i]...)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x80:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		case unsafeRune(r):
			b = append(b, '\\', 'u')
			for n := 0x1000; n > 1 && rune(n) > r; n >>= 4 {
				b = append(b, '0')
			}
			b = strconv.AppendInt(b, int64(r), 16)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// unsafeRune reports whether r, a valid non-ASCII rune, must not reach a
// terminal or a JSON document unescaped: C1 controls (a UTF-8 terminal may
// act on U+009B as CSI), bidirectional formatting characters ("Trojan
// Source") and the line separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return unicode.IsControl(r)
}

// escapeJSON rewrites the runes unsafeRune rejects that encoding/json
// leaves as raw UTF-8 (C1 controls, bidi formatting characters) as \uXXXX
// escapes. It is only applied to encoding/json output, where every
// non-ASCII byte is inside a string literal, so the decoded value does not
// change.
func escapeJSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < 0x80 {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		if b[i] < 0x80 {
			out = append(out, b[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError && unsafeRune(r) {
			out = append(out, `\u`...)
			h := strconv.FormatInt(int64(r), 16)
			for n := len(h); n < 4; n++ {
				out = append(out, '0')
			}
			out = append(out, h...)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
