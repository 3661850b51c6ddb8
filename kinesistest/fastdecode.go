package kinesistest

import (
	"encoding/base64"
	"strings"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// A decoder for the PutRecords request, the one body big enough for encoding/json to dominate the
// server's CPU. It handles the shape the SDKs send: the top-level object with Records, StreamName and
// StreamARN in any order, entries with Data, PartitionKey and ExplicitHashKey, other members skipped.
// Anything unusual (escapes in strings, malformed JSON) makes it give up, and the caller falls back to
// encoding/json, which also produces the error message. All record data lands in one allocation and
// all partition keys in one string.

// fastPutRecords decodes a PutRecords body, or reports false.
func fastPutRecords(body []byte) (putRecordsInput, bool) {
	var in putRecordsInput
	s := &jsonscan.Scanner{B: body}
	arena := make([]byte, 0, base64.StdEncoding.DecodedLen(len(body)))
	var pkRaw [][]byte
	var ehkRaw [][]byte
	pkLen := 0
	ok := s.Object(func(key []byte) bool {
		name, ok := jsonscan.Known(key, "StreamName", "StreamARN", "Records")
		if !ok {
			return false
		}
		switch name {
		case "StreamName", "StreamARN":
			v, ok := s.Str()
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
			if !s.Consume('[') {
				return false
			}
			if s.Consume(']') {
				in.Records = []putRecordsEntry{}
				return true
			}
			for {
				var e putRecordsEntry
				var pk, ehk []byte
				ok := s.Object(func(k []byte) bool {
					name, ok := jsonscan.Known(k, "Data", "PartitionKey", "ExplicitHashKey")
					if !ok {
						return false
					}
					switch name {
					case "Data":
						v, ok := s.Str()
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
						v, ok := s.Str()
						pk = v
						return ok
					case "ExplicitHashKey":
						v, ok := s.Str()
						ehk = v
						return ok
					}
					return s.Skip(1)
				})
				if !ok {
					return false
				}
				in.Records = append(in.Records, e)
				pkRaw = append(pkRaw, pk)
				ehkRaw = append(ehkRaw, ehk)
				pkLen += len(pk)
				if s.Consume(',') {
					continue
				}
				return s.Consume(']')
			}
		}
		return s.Skip(1)
	})
	if !ok {
		return putRecordsInput{}, false
	}
	if !s.End() {
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
		// Str returns a non-nil slice for a present member, even "": nil means the member was absent.
		in.Records[i].PartitionKey = all[off : off+len(pkRaw[i])]
		in.Records[i].hasPK = pkRaw[i] != nil
		off += len(pkRaw[i])
		if ehkRaw[i] != nil {
			in.Records[i].ExplicitHashKey = string(ehkRaw[i])
			in.Records[i].hasEHK = true
		}
	}
	return in, true
}
