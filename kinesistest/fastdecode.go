package kinesistest

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// A decoder for the PutRecords request, the one body big enough for encoding/json to dominate the
// server's CPU. It handles the shape the SDKs send: the top-level object with Records, StreamName and
// StreamARN in any order, entries with Data, PartitionKey and ExplicitHashKey, other members skipped.
// Anything unusual (escapes in strings, malformed JSON) makes it give up, and the caller falls back to
// encoding/json, which also produces the error message. All record data lands in one allocation and
// all partition keys in one string.

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (s *jsonScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes and returns its bytes (aliasing the input). Strings that are not
// valid UTF-8 are refused too: encoding/json would replace the bad bytes, and the answer must not depend
// on which decoder ran.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			v := s.b[start : s.i-1]
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// maxDepth bounds nesting in skipped values; deeper input goes to encoding/json.
const maxDepth = 64

// skip skips any JSON value, checking its syntax.
func (s *jsonScanner) skip(depth int) bool {
	s.ws()
	if s.i >= len(s.b) || depth > maxDepth {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	}
	return s.literal()
}

// literal skips true, false, null or a number.
func (s *jsonScanner) literal() bool {
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return true
		}
	}
	// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// known reports whether key matches one of names exactly; ok is false when it matches one only
// case-insensitively (encoding/json would take it: leave such input to encoding/json).
func known(key []byte, names ...string) (match string, ok bool) {
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

// object calls member for each member of an object; member must consume the value.
func (s *jsonScanner) object(member func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.consume(':') || !member(key) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// fastPutRecords decodes a PutRecords body, or reports false.
func fastPutRecords(body []byte) (putRecordsInput, bool) {
	var in putRecordsInput
	s := &jsonScanner{b: body}
	arena := make([]byte, 0, base64.StdEncoding.DecodedLen(len(body)))
	var pkRaw [][]byte
	var ehkRaw [][]byte
	pkLen := 0
	ok := s.object(func(key []byte) bool {
		name, ok := known(key, "StreamName", "StreamARN", "Records")
		if !ok {
			return false
		}
		switch name {
		case "StreamName", "StreamARN":
			v, ok := s.str()
			if !ok {
				return false
			}
			if name == "StreamName" {
				in.StreamName = string(v)
			} else {
				in.StreamARN = string(v)
			}
			return true
		case "Records":
			in.Records, pkRaw, ehkRaw, pkLen = nil, nil, nil, 0 // the last "Records" wins, as in encoding/json
			if !s.consume('[') {
				return false
			}
			if s.consume(']') {
				in.Records = []putRecordsEntry{}
				return true
			}
			for {
				var e putRecordsEntry
				var pk, ehk []byte
				ok := s.object(func(k []byte) bool {
					name, ok := known(k, "Data", "PartitionKey", "ExplicitHashKey")
					if !ok {
						return false
					}
					switch name {
					case "Data":
						v, ok := s.str()
						if !ok {
							return false
						}
						start := len(arena)
						n, err := base64.StdEncoding.Strict().Decode(arena[start:cap(arena)], v)
						if err != nil {
							return false
						}
						arena = arena[:start+n]
						e.Data = arena[start : start+n : start+n]
						return true
					case "PartitionKey":
						v, ok := s.str()
						pk = v
						return ok
					case "ExplicitHashKey":
						v, ok := s.str()
						ehk = v
						return ok
					}
					return s.skip(1)
				})
				if !ok {
					return false
				}
				in.Records = append(in.Records, e)
				pkRaw = append(pkRaw, pk)
				ehkRaw = append(ehkRaw, ehk)
				pkLen += len(pk)
				if s.consume(',') {
					continue
				}
				return s.consume(']')
			}
		}
		return s.skip(1)
	})
	if !ok {
		return putRecordsInput{}, false
	}
	s.ws()
	if s.i != len(s.b) {
		return putRecordsInput{}, false
	}
	// One string holds every partition key; entries slice it.
	var sb strings.Builder
	sb.Grow(pkLen)
	for _, pk := range pkRaw {
		sb.Write(pk)
	}
	all := sb.String()
	off := 0
	for i := range in.Records {
		in.Records[i].PartitionKey = all[off : off+len(pkRaw[i])]
		off += len(pkRaw[i])
		if ehkRaw[i] != nil {
			in.Records[i].ExplicitHashKey = string(ehkRaw[i])
		}
	}
	return in, true
}
