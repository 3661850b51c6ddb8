package kinesislambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	kinesislambda "github.com/shardwise/shardwise/lambda"
)

// fuzzSeeds are payloads worth starting from: aggregates (with and without explicit hash keys,
// compressed), a wrong trailer, plain data.
func fuzzSeeds(t testing.TB) [][]byte {
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for i := range 5 {
		r := aggregation.Record{PartitionKey: fmt.Sprintf("k%d", i%3), Data: fmt.Appendf(nil, "record %d", i)}
		if i == 2 {
			r.ExplicitHashKey = "170141183460469231731687303715884105728"
		}
		if err := agg.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	kr, _, err := agg.Flush()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := compression.NewEncoder(compression.LevelFastest)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat(kr.Data, 20) // compressible: the frame is kept
	frame, ok := enc.Compress(big)
	if !ok {
		t.Fatal("not compressed")
	}
	aggFrame, _ := enc.Compress(append(bytes.Clone(kr.Data), bytes.Repeat([]byte{0}, 500)...))
	badMD5 := bytes.Clone(kr.Data)
	badMD5[len(badMD5)-1]++
	return [][]byte{kr.Data, frame, aggFrame, badMD5, []byte("plain"), {}, []byte(aggregation.Magic)}
}

// FuzzRecords: any payloads, in an event shaped as Lambda sends it, give user records consistent with
// the aggregation and compression packages, in order; ForEach stops at a failure and names its
// Kinesis record; nothing panics.
func FuzzRecords(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, a := range seeds {
		f.Add(a, seeds[(i+1)%len(seeds)], "pk", uint8(i))
	}
	f.Fuzz(func(t *testing.T, data1, data2 []byte, pk string, failAt uint8) {
		arrival := time.UnixMilli(1764921600123)
		recs := []types.Record{
			{PartitionKey: aws.String(pk), SequenceNumber: aws.String("49000000000000000000000000000000000000000000000000000001"), Data: data1, ApproximateArrivalTimestamp: &arrival},
			{PartitionKey: aws.String(pk + "2"), SequenceNumber: aws.String("49000000000000000000000000000000000000000000000000000002"), Data: data2, ApproximateArrivalTimestamp: &arrival},
		}
		var ev events.KinesisEvent
		if err := json.Unmarshal(eventJSON(t, "s", "shardId-000000000001", recs), &ev); err != nil {
			return // a partition key that is not UTF-8 does not survive JSON
		}
		checkRecords(t, ev, int(failAt))
	})
}

// FuzzEventJSON: whatever JSON aws-lambda-go accepts as a Kinesis event, the records come out without
// a panic and consistent with it.
func FuzzEventJSON(f *testing.F) {
	sample, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample, uint8(0))
	arrival := time.UnixMilli(1764921600123)
	seeds := fuzzSeeds(f)
	var recs []types.Record
	for i, d := range seeds {
		recs = append(recs, types.Record{PartitionKey: aws.String("pk"), SequenceNumber: aws.String(fmt.Sprint(100 + i)), Data: d, ApproximateArrivalTimestamp: &arrival})
	}
	f.Add(eventJSON(f, "s", "shardId-000000000000", recs), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, failAt uint8) {
		var ev events.KinesisEvent
		if json.Unmarshal(b, &ev) != nil {
			return
		}
		checkRecords(t, ev, int(failAt))
	})
}

// checkRecords checks Records, All and ForEach on ev against the aggregation and compression packages.
func checkRecords(t *testing.T, ev events.KinesisEvent, failAt int) {
	t.Helper()
	got := kinesislambda.Records(ev)
	i := 0
	for k := range ev.Records {
		kr := &ev.Records[k]
		data, decoded, frameErr := compression.Decode(kr.Kinesis.Data)
		if !decoded {
			data = kr.Kinesis.Data
		}
		subs, aggErr := aggregation.Deaggregate(data)
		aggregated := aggErr == nil && aggregation.IsAggregated(data)
		if !aggregated {
			subs = []aggregation.UserRecord{{Record: aggregation.Record{PartitionKey: kr.Kinesis.PartitionKey, Data: data}}}
		}
		for _, s := range subs {
			if i >= len(got) {
				t.Fatalf("%d records, more expected", len(got))
			}
			r := got[i]
			i++
			if r.Source != kr || r.SequenceNumber != kr.Kinesis.SequenceNumber || r.Aggregated != aggregated ||
				r.PartitionKey != s.PartitionKey || r.ExplicitHashKey != s.ExplicitHashKey || !bytes.Equal(r.Data, s.Data) ||
				r.SubSequenceNumber != s.SubSequenceNumber {
				t.Fatalf("record %d = {%q %q %q %s/%d aggregated %v}, want {%q %q %q %s/%d aggregated %v}", i-1,
					r.PartitionKey, r.ExplicitHashKey, r.Data, r.SequenceNumber, r.SubSequenceNumber, r.Aggregated,
					s.PartitionKey, s.ExplicitHashKey, s.Data, kr.Kinesis.SequenceNumber, s.SubSequenceNumber, aggregated)
			}
			// A decode error is reported exactly when a frame or a checksummed aggregate did not decode.
			wantErr := frameErr != nil || (!aggregated && errors.Is(aggErr, aggregation.ErrCorrupt))
			if (r.DecodeError != nil) != wantErr {
				t.Fatalf("record %d: DecodeError %v (frame %v, aggregate %v)", i-1, r.DecodeError, frameErr, aggErr)
			}
		}
	}
	if i != len(got) {
		t.Fatalf("%d records, want %d", len(got), i)
	}

	n := 0
	for r := range kinesislambda.All(ev) {
		if r.SequenceNumber != got[n].SequenceNumber || r.SubSequenceNumber != got[n].SubSequenceNumber {
			t.Fatalf("All record %d differs from Records", n)
		}
		n++
	}
	if n != len(got) {
		t.Fatalf("All gave %d records, Records %d", n, len(got))
	}

	calls := 0
	resp := kinesislambda.ForEach(context.Background(), ev, func(_ context.Context, r kinesislambda.Record) error {
		calls++
		if calls-1 == failAt {
			return errors.New("fail")
		}
		return nil
	})
	if failAt < len(got) {
		if calls != failAt+1 || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != got[failAt].SequenceNumber {
			t.Fatalf("failing at %d: %d calls, response %+v, want item %q", failAt, calls, resp, got[failAt].SequenceNumber)
		}
	} else if calls != len(got) || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("no failure: %d calls of %d, response %+v", calls, len(got), resp)
	}
}
