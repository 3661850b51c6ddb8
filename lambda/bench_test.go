package kinesislambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	kinesislambda "github.com/shardwise/shardwise/lambda"
)

// benchEvent is a typical event of a KPL-fed stream: 100 Kinesis records, each an aggregate of 100 user
// records of 100 B with random 16-36-character partition keys (the KPL's format, made by the
// aggregation package kpl uses), as JSON and as the handler receives it.
func benchEvent(b testing.TB) ([]byte, events.KinesisEvent) {
	rng := rand.New(rand.NewPCG(1, 2))
	arrival := time.UnixMilli(1764921600123)
	var recs []types.Record
	for a := range 100 {
		agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
		for range 100 {
			key := make([]byte, 16+rng.IntN(21))
			for i := range key {
				key[i] = 'a' + byte(rng.IntN(26))
			}
			data := make([]byte, 100)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			if err := agg.Add(aggregation.Record{PartitionKey: string(key), Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		kr, _, err := agg.Flush()
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, types.Record{PartitionKey: aws.String(kr.PartitionKey), Data: kr.Data,
			SequenceNumber: aws.String(fmt.Sprintf("496601234567890123456789012345678901234567890123%08d", a)), ApproximateArrivalTimestamp: &arrival})
	}
	js := eventJSON(b, "bench", "shardId-000000000000", recs)
	var ev events.KinesisEvent
	if err := json.Unmarshal(js, &ev); err != nil {
		b.Fatal(err)
	}
	return js, ev
}

const benchUserRecords = 100 * 100

// BenchmarkForEach: the event-to-user-records path (MD5 check, deaggregation, one callback per user
// record) over the typical event; the handler's own JSON decoding of the event is not included.
//
//	go test -run '^$' -bench . -benchmem ./lambda/  (from the lambda directory: go test -bench . -benchmem)
func BenchmarkForEach(b *testing.B) {
	_, ev := benchEvent(b)
	ctx := context.Background()
	var n int
	fn := func(_ context.Context, r kinesislambda.Record) error {
		n += len(r.Data)
		return nil
	}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		n = 0
		kinesislambda.ForEach(ctx, ev, fn)
		if n != benchUserRecords*100 {
			b.Fatalf("%d bytes of data", n)
		}
	}
	reportPerRecord(b, cpu)
}

// BenchmarkDeaggregateOnly is the floor for BenchmarkForEach on the same event: only
// aggregation.AppendDeaggregate (MD5 check and parse) of each Kinesis record's data, into a reused slice.
func BenchmarkDeaggregateOnly(b *testing.B) {
	_, ev := benchEvent(b)
	var subs []aggregation.UserRecord
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		n := 0
		for i := range ev.Records {
			var err error
			if subs, err = aggregation.AppendDeaggregate(subs[:0], ev.Records[i].Kinesis.Data); err != nil {
				b.Fatal(err)
			}
			n += len(subs)
		}
		if n != benchUserRecords {
			b.Fatalf("%d records", n)
		}
	}
	reportPerRecord(b, cpu)
}

// BenchmarkRecords: the same, returning the user records as a slice.
func BenchmarkRecords(b *testing.B) {
	_, ev := benchEvent(b)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if recs := kinesislambda.Records(ev); len(recs) != benchUserRecords {
			b.Fatalf("%d records", len(recs))
		}
	}
	reportPerRecord(b, cpu)
}

// BenchmarkUnmarshalForEach: what a handler costs before its own work, including the JSON decoding of
// the event (base64 of 100 aggregates) that the Lambda runtime does before calling it.
func BenchmarkUnmarshalForEach(b *testing.B) {
	js, _ := benchEvent(b)
	ctx := context.Background()
	fn := func(context.Context, kinesislambda.Record) error { return nil }
	b.ReportAllocs()
	cpu := processCPU()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		var ev events.KinesisEvent
		if err := json.Unmarshal(js, &ev); err != nil {
			b.Fatal(err)
		}
		kinesislambda.ForEach(ctx, ev, fn)
	}
	reportPerRecord(b, cpu)
}

// BenchmarkDecodeEventForEach: the same with DecodeEvent instead of encoding/json, as a Handler
// (lambda.StartHandler) runs it.
func BenchmarkDecodeEventForEach(b *testing.B) {
	js, _ := benchEvent(b)
	ctx := context.Background()
	fn := func(context.Context, kinesislambda.Record) error { return nil }
	b.ReportAllocs()
	cpu := processCPU()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		var ev events.KinesisEvent
		if err := kinesislambda.DecodeEvent(js, &ev); err != nil {
			b.Fatal(err)
		}
		kinesislambda.ForEach(ctx, ev, fn)
	}
	reportPerRecord(b, cpu)
}

// reportPerRecord adds user records per second, wall time per user record, and the process's CPU time
// per user record since cpuStart (garbage collection included; steadier than wall time on a loaded
// machine, where the benchmark waits for a core).
func reportPerRecord(b *testing.B, cpuStart time.Duration) {
	n := float64(benchUserRecords * b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "userrecords/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/userrecord")
	b.ReportMetric(float64((processCPU()-cpuStart).Nanoseconds())/n, "cpu-ns/userrecord")
}

// TestAllocationsPerAggregate: deaggregating costs allocations per aggregate (a copy of its key tables
// and the partition key table: 2), not per user record; ForEach adds one for its reused buffer.
func TestAllocationsPerAggregate(t *testing.T) {
	_, ev := benchEvent(t)
	ctx := context.Background()
	fn := func(context.Context, kinesislambda.Record) error { return nil }
	got := testing.AllocsPerRun(5, func() { kinesislambda.ForEach(ctx, ev, fn) })
	if limit := float64(2*len(ev.Records) + 5); got > limit {
		t.Errorf("ForEach over %d aggregates of %d user records: %.0f allocations, want at most %.0f",
			len(ev.Records), benchUserRecords/len(ev.Records), got, limit)
	}
}
