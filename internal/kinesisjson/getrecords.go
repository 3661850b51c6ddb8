// Package kinesisjson decodes Kinesis GetRecords responses faster than the SDK's generic JSON
// deserializer, for the consumers in this module, and writes PutRecords requests for the producer
// (see FastPutRecords).
//
// A GetRecords response can be 10 MiB of records, nearly all of it base64 Data. The SDK tokenizes
// every byte of it, unquotes each Data string into a new string and base64-decodes that into a new
// slice, one record at a time. The decoder here finds each string's end with one byte search,
// decodes all Data of a response into one buffer and copies all sequence numbers and partition keys
// into one string, so a response costs a handful of allocations instead of several per record.
//
// It only takes the shape Kinesis actually answers with: the members it knows, plain (unescaped)
// strings, numbers where numbers belong. Anything else (ChildShards at a shard's end, an escaped
// string, a null, a member added to the API later, malformed input) is handed back to the SDK's own
// deserializer, so the result and the errors are always the SDK's.
package kinesisjson

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// FastGetRecords is a per-call option for GetRecords: it wraps the client's protocol so a successful
// response is decoded by DecodeGetRecords (falling back to the SDK's deserializer for anything it
// does not take). Other operations and error responses go to the SDK unchanged.
func FastGetRecords(o *kinesis.Options) {
	if o.Protocol == nil {
		return
	}
	if _, ok := o.Protocol.(protocol); !ok {
		o.Protocol = protocol{o.Protocol}
	}
}

// protocol is the client's protocol with GetRecords response decoding replaced.
type protocol struct{ smithyhttp.ClientProtocol }

func (p protocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema,
	reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	o, ok := out.(*kinesis.GetRecordsOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 || resp.Body == nil {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	payload, err := readBody((*bp)[:0], resp.Body, resp.ContentLength)
	*bp = payload[:0]
	if err != nil {
		return &smithy.DeserializationError{Err: err}
	}
	if DecodeGetRecords(payload, o) {
		return nil
	}
	// Not a shape this decoder takes: let the SDK decode the same bytes.
	*o = kinesis.GetRecordsOutput{}
	hr := *resp.Response
	hr.Body = io.NopCloser(bytes.NewReader(payload))
	hr.ContentLength = int64(len(payload))
	return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, &smithyhttp.Response{Response: &hr}, out)
}

// bodyPool holds response buffers: a payload is fully decoded (copied out) before its buffer returns.
var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

// readBody reads r to the end into buf, sized from the Content-Length when it is known.
func readBody(buf []byte, r io.Reader, contentLength int64) ([]byte, error) {
	if contentLength > 0 && contentLength < 1<<30 && int64(cap(buf)) < contentLength+1 {
		buf = make([]byte, 0, contentLength+1) // +1: the read that sees EOF needs room
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// DecodeGetRecords decodes a GetRecords response body into out and reports whether it could. When it
// returns false, out is in an unspecified state and the payload must be decoded another way (the
// SDK's deserializer); it never returns true for input the SDK would decode differently or reject.
//
// The records' Data share one new buffer, and their sequence numbers and partition keys one new
// string; nothing refers to payload afterwards.
func DecodeGetRecords(payload []byte, out *kinesis.GetRecordsOutput) bool {
	d := decoder{Scanner: jsonscan.Scanner{B: payload}}
	return d.decode() && d.build(out)
}

// rawRecord is one record as found in the payload: offsets of its strings, before they are copied out.
type rawRecord struct {
	seq, pk          span // in decoder.text
	dataOff, dataEnd int  // base64 text in the payload
	haveData         bool
	arrival          time.Time
	haveArrival      bool
	enc              types.EncryptionType
}

// span is a string copied into decoder.text.
type span struct {
	off, end int
	set      bool
}

type decoder struct {
	jsonscan.Scanner
	text []byte // sequence numbers and partition keys, copied out of the payload
	recs []rawRecord

	recordsSeen bool
	millis      int64
	haveMillis  bool
	nextIter    []byte
	haveNext    bool
	dataLen     int // sum of the decoded lengths' upper bounds
}

func (d *decoder) decode() bool {
	ok := d.Object(func(key []byte) bool {
		switch string(key) {
		case "Records":
			if d.recordsSeen {
				return false
			}
			d.recordsSeen = true
			return d.records()
		case "NextShardIterator":
			if d.haveNext {
				return false
			}
			if d.Null() { // a closed shard's last answer
				return true
			}
			s, ok := d.Str()
			d.nextIter, d.haveNext = s, ok
			return ok
		case "MillisBehindLatest":
			if d.haveMillis {
				return false
			}
			t, ok := d.Number()
			if !ok {
				return false
			}
			n, err := strconv.ParseInt(string(t), 10, 64)
			d.millis, d.haveMillis = n, err == nil
			return err == nil
		case "ChildShards":
			// null (kinesis-mock sends it on every answer) is taken; a shard end's list goes to the SDK.
			return d.Null()
		}
		return false // a member this decoder does not know: the SDK decodes it
	})
	return ok && d.End()
}

func (d *decoder) records() bool {
	d.recs = make([]rawRecord, 0, 16)
	return d.Array(d.record)
}

// text1 reads a string member into sp (once: a repeated member is not taken).
func (d *decoder) text1(sp *span) bool {
	v, ok := d.Str()
	if !ok || sp.set {
		return false
	}
	sp.off = len(d.text)
	d.text = append(d.text, v...)
	sp.end, sp.set = len(d.text), true
	return true
}

func (d *decoder) record() bool {
	var r rawRecord
	ok := d.Object(func(key []byte) bool {
		switch string(key) {
		case "SequenceNumber":
			return d.text1(&r.seq)
		case "PartitionKey":
			return d.text1(&r.pk)
		case "Data":
			if r.haveData {
				return false
			}
			// Base64 text, checked when it is decoded: the alphabet has no quote, backslash or
			// control character, so a string that decodes had none of them.
			v, ok := d.RawStr()
			if !ok {
				return false
			}
			r.dataEnd = d.I - 1
			r.dataOff, r.haveData = r.dataEnd-len(v), true
			d.dataLen += base64.StdEncoding.DecodedLen(len(v))
		case "ApproximateArrivalTimestamp":
			t, ok := d.Number()
			if !ok || r.haveArrival {
				return false
			}
			f, err := strconv.ParseFloat(string(t), 64)
			if err != nil {
				return false
			}
			r.arrival, r.haveArrival = smithytime.ParseEpochSeconds(f), true
		case "EncryptionType":
			s, ok := d.Str()
			if !ok || r.enc != "" || len(s) == 0 {
				return false
			}
			switch string(s) {
			case string(types.EncryptionTypeKms):
				r.enc = types.EncryptionTypeKms
			case string(types.EncryptionTypeNone):
				r.enc = types.EncryptionTypeNone
			default:
				r.enc = types.EncryptionType(s)
			}
		default:
			return false
		}
		return true
	})
	if ok {
		d.recs = append(d.recs, r)
	}
	return ok
}

// build fills out from what decode found: one Data buffer, one string for all text, and one block
// each for the records' pointer fields. It returns false, leaving out alone, if a Data string is not
// valid base64.
func (d *decoder) build(out *kinesis.GetRecordsOutput) bool {
	var recs []types.Record
	if d.recordsSeen {
		recs = make([]types.Record, len(d.recs))
	}
	data := make([]byte, d.dataLen)
	off := 0
	for i := range d.recs {
		raw := &d.recs[i]
		if !raw.haveData {
			continue
		}
		n, err := decodeBase64(data[off:], d.B[raw.dataOff:raw.dataEnd])
		if err != nil {
			return false
		}
		recs[i].Data = data[off : off+n : off+n]
		off += n
	}
	text := string(d.text)
	strs := make([]string, 0, 2*len(d.recs))
	times := make([]time.Time, 0, len(d.recs))
	for i := range d.recs {
		raw, r := &d.recs[i], &recs[i]
		r.SequenceNumber, strs = textPtr(text, raw.seq, strs)
		r.PartitionKey, strs = textPtr(text, raw.pk, strs)
		if raw.haveArrival {
			times = append(times, raw.arrival)
			r.ApproximateArrivalTimestamp = &times[len(times)-1]
		}
		r.EncryptionType = raw.enc
	}
	*out = kinesis.GetRecordsOutput{Records: recs}
	if d.haveMillis {
		m := d.millis
		out.MillisBehindLatest = &m
	}
	if d.haveNext {
		s := string(d.nextIter)
		out.NextShardIterator = &s
	}
	return true
}

// textPtr returns a pointer to sp's text, held in strs (appended to without growing), or nil.
func textPtr(text string, sp span, strs []string) (*string, []string) {
	if !sp.set {
		return nil, strs
	}
	strs = append(strs, text[sp.off:sp.end])
	return &strs[len(strs)-1], strs
}

var _ smithyhttp.ClientProtocol = protocol{}
