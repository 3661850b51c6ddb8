package kinesistest

import (
	"encoding/base64"
	"strings"
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

// str reads a string without escapes and returns its bytes (aliasing the input).
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// skip skips any JSON value.
func (s *jsonScanner) skip() bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			}
			s.i++
		}
		return false
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
		return s.i > start
	}
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
		switch string(key) {
		case "StreamName", "StreamARN":
			v, ok := s.str()
			if !ok {
				return false
			}
			if key[6] == 'N' {
				in.StreamName = string(v)
			} else {
				in.StreamARN = string(v)
			}
			return true
		case "Records":
			if !s.consume('[') {
				return false
			}
			if s.consume(']') {
				return true
			}
			for {
				var e putRecordsEntry
				var pk, ehk []byte
				ok := s.object(func(k []byte) bool {
					switch string(k) {
					case "Data":
						v, ok := s.str()
						if !ok {
							return false
						}
						start := len(arena)
						n, err := base64.StdEncoding.Decode(arena[start:cap(arena)], v)
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
					return s.skip()
				})
				if !ok {
					return false
				}
				if e.Data == nil {
					e.Data = []byte{}
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
		return s.skip()
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
