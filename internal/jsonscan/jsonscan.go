// Package jsonscan is a small JSON scanner for the module's fast decoders (kinesistest's PutRecords
// request decoder, internal/kinesisjson's GetRecords answer decoder). It takes the plain shape AWS
// SDKs and Kinesis write: strings without escapes, control characters or invalid UTF-8. Anything
// else makes a method report false, and its caller hands the whole input to a general JSON decoder,
// which also makes the error message.
package jsonscan

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// A Scanner reads B from offset I.
type Scanner struct {
	B []byte
	I int
}

// WS skips white space.
func (s *Scanner) WS() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Consume skips white space and then c, reporting whether c was there.
func (s *Scanner) Consume(c byte) bool {
	s.WS()
	if s.I < len(s.B) && s.B[s.I] == c {
		s.I++
		return true
	}
	return false
}

// Null consumes a null if one is next.
func (s *Scanner) Null() bool {
	s.WS()
	if bytes.HasPrefix(s.B[s.I:], []byte("null")) {
		s.I += 4
		return true
	}
	return false
}

// End skips white space and reports whether the input is used up.
func (s *Scanner) End() bool {
	s.WS()
	return s.I == len(s.B)
}

// Str reads a string without escapes or control characters, in valid UTF-8, and returns its bytes
// (aliasing the input).
func (s *Scanner) Str() ([]byte, bool) {
	if !s.Consume('"') {
		return nil, false
	}
	start := s.I
	ascii := true
	for s.I < len(s.B) {
		switch c := s.B[s.I]; {
		case c == '"':
			s.I++
			v := s.B[start : s.I-1]
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.I++
	}
	return nil, false
}

// RawStr reads a string up to the next quote without looking inside it: for long base64 strings whose
// contents the caller validates (the base64 alphabet has no quote, backslash or control character).
func (s *Scanner) RawStr() ([]byte, bool) {
	if !s.Consume('"') {
		return nil, false
	}
	n := bytes.IndexByte(s.B[s.I:], '"')
	if n < 0 {
		return nil, false
	}
	v := s.B[s.I : s.I+n]
	s.I += n + 1
	return v, true
}

// Number reads a number, checking its syntax, and returns its text.
func (s *Scanner) Number() ([]byte, bool) {
	s.WS()
	start := s.I
	digits := func() int {
		n := 0
		for s.I < len(s.B) && s.B[s.I] >= '0' && s.B[s.I] <= '9' {
			s.I++
			n++
		}
		return n
	}
	// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
	if s.I < len(s.B) && s.B[s.I] == '-' {
		s.I++
	}
	if s.I < len(s.B) && s.B[s.I] == '0' {
		s.I++
	} else if digits() == 0 {
		return nil, false
	}
	if s.I < len(s.B) && s.B[s.I] == '.' {
		s.I++
		if digits() == 0 {
			return nil, false
		}
	}
	if s.I < len(s.B) && (s.B[s.I] == 'e' || s.B[s.I] == 'E') {
		s.I++
		if s.I < len(s.B) && (s.B[s.I] == '+' || s.B[s.I] == '-') {
			s.I++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return s.B[start:s.I], true
}

// MaxDepth bounds nesting in skipped values; deeper input is left to a general decoder.
const MaxDepth = 64

// Skip skips any value at nesting depth depth, checking its syntax.
func (s *Scanner) Skip(depth int) bool {
	s.WS()
	if s.I >= len(s.B) || depth > MaxDepth {
		return false
	}
	switch s.B[s.I] {
	case '"':
		_, ok := s.Str()
		return ok
	case '{':
		return s.Object(func([]byte) bool { return s.Skip(depth + 1) })
	case '[':
		return s.Array(func() bool { return s.Skip(depth + 1) })
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.B[s.I:], []byte(lit)) {
			s.I += len(lit)
			return true
		}
	}
	_, ok := s.Number()
	return ok
}

// Object calls member for each member of an object; member must consume the value.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	if !s.Consume('{') {
		return false
	}
	if s.Consume('}') {
		return true
	}
	for {
		key, ok := s.Str()
		if !ok || !s.Consume(':') || !member(key) {
			return false
		}
		if s.Consume(',') {
			continue
		}
		return s.Consume('}')
	}
}

// Array calls elem for each element of an array; elem must consume the element.
func (s *Scanner) Array(elem func() bool) bool {
	if !s.Consume('[') {
		return false
	}
	if s.Consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.Consume(',') {
			continue
		}
		return s.Consume(']')
	}
}

// Known reports whether key matches one of names exactly; ok is false when it matches one only
// case-insensitively (encoding/json would take it: leave such input to encoding/json).
func Known(key []byte, names ...string) (match string, ok bool) {
	for _, n := range names {
		if string(key) == n {
			return n, true
		}
	}
	for _, n := range names {
		if strings.EqualFold(string(key), n) {
			return "", false
		}
	}
	return "", true
}

// plain[c] is true for the ASCII bytes that stand for themselves in the SDK's JSON strings: not a
// control character, quote, backslash or DEL.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as the SDK's serializer escapes it: \" \\ \n \r
// \t, other control characters and DEL as \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each
// byte that is not part of valid UTF-8 as U+FFFD. The PutRecords body writer and kinesistest's
// answers use it.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	i := 0
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
