package kinesislambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// A Handler is a Lambda handler for Kinesis events that decodes the event itself ([DecodeEvent]),
// calls [ForEach] and returns its partial batch response. It satisfies aws-lambda-go's lambda.Handler:
//
//	lambda.StartHandler(kinesislambda.NewHandler(func(ctx context.Context, r kinesislambda.Record) error {
//		return store(ctx, r.PartitionKey, r.Data)
//	}))
//
// does what lambda.Start does with the handler of the package example, with the event decoded by
// DecodeEvent instead of encoding/json (see README, Lambda consumers, for the figures). A Handler is
// safe for concurrent use if fn is.
type Handler struct {
	fn func(context.Context, Record) error
}

// NewHandler returns a Handler calling fn for each user record (see [ForEach]).
func NewHandler(fn func(context.Context, Record) error) *Handler {
	return &Handler{fn: fn}
}

// Invoke decodes payload as a Kinesis event, runs ForEach and returns the response as JSON. An event
// that does not decode is an error (Lambda retries the batch, as it would with lambda.Start).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := DecodeEvent(payload, &ev); err != nil {
		return nil, err
	}
	return json.Marshal(ForEach(ctx, ev, h.fn))
}

// DecodeEvent decodes a Kinesis event into ev (overwriting it) as json.Unmarshal(payload, ev) decodes
// into a zero ev, with the same result and the same errors, faster: events in the shape Lambda sends (strings without escapes, no duplicate or
// case-variant keys) are read by a small scanner that base64-decodes the data in place of
// encoding/json's reflection; any other input is handed to json.Unmarshal.
func DecodeEvent(payload []byte, ev *events.KinesisEvent) error {
	*ev = events.KinesisEvent{}
	d := eventDecoder{s: jsonscan.Scanner{B: payload}}
	if recs, ok := d.event(); ok {
		ev.Records = recs
		return nil
	}
	return json.Unmarshal(payload, ev)
}

// eventDecoder is the fast path of DecodeEvent. Each method reports false for input it does not take;
// nothing is written to the caller's event until the whole payload was read.
type eventDecoder struct {
	s jsonscan.Scanner
	// The previous record's strings: the records of one event share most of them (source, region,
	// ARNs, versions), so equal values share one allocation.
	last [9]string
}

// String fields of the last array, by index.
const (
	fAwsRegion = iota
	fEventName
	fEventSource
	fEventSourceArn
	fEventVersion
	fInvokeIdentityArn
	fEncryptionType
	fKinesisSchemaVersion
	fPartitionKey // partition keys change from record to record, but an aggregate's is always "a"
)

func (d *eventDecoder) event() ([]events.KinesisEventRecord, bool) {
	var recs []events.KinesisEventRecord
	seen := false
	ok := d.s.Object(func(key []byte) bool {
		switch name, ok := jsonscan.Known(key, "Records"); {
		case !ok:
			return false
		case name == "":
			return d.s.Skip(1)
		}
		if seen { // a second Records array: encoding/json's merging is not reproduced here
			return false
		}
		seen = true
		recs = []events.KinesisEventRecord{}
		return d.s.Array(func() bool {
			recs = append(recs, events.KinesisEventRecord{})
			return d.record(&recs[len(recs)-1])
		})
	})
	return recs, ok && seen && d.s.End()
}

// The JSON keys of events.KinesisEventRecord and events.KinesisRecord.
var (
	recordKeys = []string{"awsRegion", "eventID", "eventName", "eventSource", "eventSourceARN", "eventVersion",
		"invokeIdentityArn", "kinesis"}
	kinesisKeys = []string{"approximateArrivalTimestamp", "data", "encryptionType", "partitionKey",
		"sequenceNumber", "kinesisSchemaVersion"}
)

func (d *eventDecoder) record(r *events.KinesisEventRecord) bool {
	var seen uint16
	return d.s.Object(func(key []byte) bool {
		name, ok := jsonscan.Known(key, recordKeys...)
		if !ok {
			return false
		}
		if name == "" {
			return d.s.Skip(2)
		}
		if !once(&seen, slices.Index(recordKeys, name)) {
			return false
		}
		var dst *string
		field := -1
		switch name {
		case "awsRegion":
			dst, field = &r.AwsRegion, fAwsRegion
		case "eventID":
			dst = &r.EventID
		case "eventName":
			dst, field = &r.EventName, fEventName
		case "eventSource":
			dst, field = &r.EventSource, fEventSource
		case "eventSourceARN":
			dst, field = &r.EventSourceArn, fEventSourceArn
		case "eventVersion":
			dst, field = &r.EventVersion, fEventVersion
		case "invokeIdentityArn":
			dst, field = &r.InvokeIdentityArn, fInvokeIdentityArn
		}
		if name == "kinesis" {
			return d.kinesis(&r.Kinesis)
		}
		return d.str(dst, field)
	})
}

func (d *eventDecoder) kinesis(k *events.KinesisRecord) bool {
	var seen uint16
	return d.s.Object(func(key []byte) bool {
		name, ok := jsonscan.Known(key, kinesisKeys...)
		if !ok {
			return false
		}
		if name == "" {
			return d.s.Skip(3)
		}
		if !once(&seen, slices.Index(kinesisKeys, name)) {
			return false
		}
		switch name {
		case "approximateArrivalTimestamp":
			num, ok := d.s.Number()
			if !ok {
				return false
			}
			// What events.SecondsEpochTime.UnmarshalJSON computes (float seconds, whole seconds and the
			// fraction's nanoseconds), without its json.Unmarshal; times beyond ±3e7 years go to it.
			f, err := strconv.ParseFloat(string(num), 64)
			if err != nil || math.Abs(f) > 1e15 {
				return false
			}
			sec := int64(f)
			k.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: time.Unix(sec, int64((f-float64(sec))*1e9))}
			return true
		case "data":
			return d.data(&k.Data)
		case "encryptionType":
			return d.str(&k.EncryptionType, fEncryptionType)
		case "partitionKey":
			return d.str(&k.PartitionKey, fPartitionKey)
		case "sequenceNumber":
			return d.str(&k.SequenceNumber, -1)
		default: // kinesisSchemaVersion
			return d.str(&k.KinesisSchemaVersion, fKinesisSchemaVersion)
		}
	})
}

// once records key number i in seen and reports whether it was not there yet: duplicate keys go to
// encoding/json.
func once(seen *uint16, i int) bool {
	if *seen&(1<<i) != 0 {
		return false
	}
	*seen |= 1 << i
	return true
}

// str reads a string into dst, sharing the previous record's allocation for field when equal.
func (d *eventDecoder) str(dst *string, field int) bool {
	v, ok := d.s.Str()
	if !ok {
		return false
	}
	if field >= 0 && d.last[field] == string(v) {
		*dst = d.last[field]
		return true
	}
	*dst = string(v)
	if field >= 0 {
		d.last[field] = *dst
	}
	return true
}

// data reads base64 data as encoding/json decodes a []byte: standard alphabet with padding, "" as an
// empty (non-nil) slice.
func (d *eventDecoder) data(dst *[]byte) bool {
	src, ok := d.s.RawStr()
	// base64 skips CR and LF, which a JSON string cannot hold raw: such input goes to encoding/json
	// (which rejects it); other bytes outside the alphabet fail the decoding below.
	if !ok || bytes.IndexByte(src, '\n') >= 0 || bytes.IndexByte(src, '\r') >= 0 {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(out, src)
	if err != nil {
		return false
	}
	*dst = out[:n]
	return true
}
