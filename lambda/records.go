package kinesislambda

import (
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shardwise/shardwise/kinesisrecord"
)

// Record is a user record of a Kinesis event: a KPL aggregate's user record, or a plain Kinesis record.
type Record struct {
	// PartitionKey is the user record's partition key: from the aggregate's key table for a user record
	// of an aggregate, else the Kinesis record's.
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key from a KPL aggregate; "" for plain records
	// (the event does not carry the explicit hash key of a Kinesis record).
	ExplicitHashKey string
	// Data is the payload, decompressed. It shares memory with the event (see the package doc): do not
	// modify it, and copy it to keep it beyond the event.
	Data []byte
	// SequenceNumber is the sequence number of the Kinesis record carrying the user record; the user
	// records of one aggregate share it.
	SequenceNumber string
	// SubSequenceNumber is the user record's position in its aggregate (0, 1, ...); 0 for plain records.
	SubSequenceNumber int
	// ApproximateArrival is the Kinesis record's approximate arrival timestamp, to the millisecond.
	ApproximateArrival time.Time
	// Aggregated reports whether the record came out of a KPL aggregate.
	Aggregated bool
	// ShardID is the shard the record was read from, taken from the event's eventID
	// ("shardId-000000000006:<sequence number>"); "" if the eventID has no such prefix.
	ShardID string
	// DecodeError is non-nil when the Kinesis record looked like a compression frame or a KPL aggregate
	// (with a matching checksum) but did not decode: the record is then the Kinesis record's data as it
	// came, delivered as one plain record, as the Java KCL delivers a corrupt aggregate. It wraps
	// compression.ErrCorrupt, compression.ErrTooLarge or aggregation.ErrCorrupt. kcl reports the same
	// records through its HookCorruptRecord and a Warn log.
	DecodeError error
	// Source is the event record the user record came from (the user records of one aggregate share
	// it): the event source ARN, region, event ID and the raw Kinesis record.
	Source *events.KinesisEventRecord
}

// After reports whether r comes after the position (seq, subSeq) in its shard: a later Kinesis record,
// or the same Kinesis record and a larger sub-sequence number. A handler that stored the position of its
// last processed record skips the records that are not After it when Lambda re-delivers them.
// Sequence numbers are compared as decimal numbers, not as strings.
func (r Record) After(seq string, subSeq int) bool {
	switch c := compareSequenceNumbers(r.SequenceNumber, seq); {
	case c != 0:
		return c > 0
	default:
		return r.SubSequenceNumber > subSeq
	}
}

// compareSequenceNumbers compares two decimal sequence numbers numerically: -1, 0 or +1.
func compareSequenceNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// All returns an iterator over the user records of ev, in order: the Kinesis records in the event's
// order, the user records of an aggregate in sub-sequence order.
func All(ev events.KinesisEvent) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		var d decoder
		for i := range ev.Records {
			if !d.each(&ev.Records[i], yield) {
				return
			}
		}
	}
}

// Records returns the user records of ev in order (see [All]).
func Records(ev events.KinesisEvent) []Record {
	return AppendRecords(nil, ev)
}

// AppendRecords appends the user records of ev to dst and returns the extended slice.
func AppendRecords(dst []Record, ev events.KinesisEvent) []Record {
	// An event of aggregates holds up to hundreds of thousands of user records (6 MB of 100 B records).
	// Once the first aggregate shows how many user records a byte holds, dst grows once to what the
	// whole event should need instead of doubling its way there (the kcl converter does the same).
	total := 0
	for i := range ev.Records {
		total += len(ev.Records[i].Kinesis.Data)
	}
	var d decoder
	start, seen, sized := len(dst), 0, false
	for i := range ev.Records {
		kr := &ev.Records[i]
		seen += len(kr.Kinesis.Data)
		n := len(dst)
		d.each(kr, func(r Record) bool {
			dst = append(dst, r)
			return true
		})
		if !sized && len(dst)-n > 1 && seen < total {
			sized = true
			perByte := float64(len(dst)-start) / float64(seen)
			dst = slices.Grow(dst, int(perByte*float64(total-seen)*1.05)+1)
		}
	}
	return dst
}

// decoder turns Kinesis records into user records. The zero value is ready; it is not safe for
// concurrent use (each call of All, Records or ForEach has its own).
type decoder struct {
	dec  kinesisrecord.Decoder
	subs []kinesisrecord.UserRecord // reused: the user records of one Kinesis record
}

// each yields the user records of one Kinesis record and reports whether yield always returned true.
// The decoding is kcl's and the CLI's (package kinesisrecord): compression frame first, then the KPL
// aggregate; a wrong MD5 trailer is a plain record without error, a corrupt frame or body a plain
// record with DecodeError set. No hash range is given: an event does not carry its shard's.
func (d *decoder) each(kr *events.KinesisEventRecord, yield func(Record) bool) bool {
	k := &kr.Kinesis
	base := Record{
		SequenceNumber: k.SequenceNumber,
		// The event carries seconds with three decimals as a JSON number; aws-lambda-go's float parsing
		// turns .619 into .618999958. Kinesis records arrival times to the millisecond.
		ApproximateArrival: k.ApproximateArrivalTimestamp.Time.Round(time.Millisecond),
		ShardID:            shardID(kr.EventID),
		Source:             kr,
	}
	if d.subs == nil {
		d.subs = make([]kinesisrecord.UserRecord, 0, 256) // once, rather than doubling up to an aggregate's count
	}
	subs, err := d.dec.Append(d.subs[:0], kinesisrecord.Record{Data: k.Data, PartitionKey: k.PartitionKey,
		SequenceNumber: k.SequenceNumber}, nil)
	base.DecodeError = err
	more := true
	for i := range subs {
		s := &subs[i]
		r := base
		r.PartitionKey, r.ExplicitHashKey, r.Data = s.PartitionKey, s.ExplicitHashKey, s.Data
		r.SubSequenceNumber, r.Aggregated = s.SubSequenceNumber, s.Aggregated
		if more = yield(r); !more {
			break
		}
	}
	clear(subs) // drop references to this event's data
	d.subs = subs[:0]
	return more
}

// shardID returns the shard ID prefix of an eventID ("shardId-000000000006:4959..."), or "".
func shardID(eventID string) string {
	if i := strings.IndexByte(eventID, ':'); i > 0 && strings.HasPrefix(eventID, "shardId-") {
		return eventID[:i]
	}
	return ""
}
