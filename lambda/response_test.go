package kinesislambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	kinesislambda "github.com/shardwise/shardwise/lambda"
)

type oneShard struct {
	s     *stream
	shard string
	recs  []types.Record
}

var oneShardStream shared[oneShard]

// shardRecords fills a one-shard stream with kpl output (once for all tests) and returns its Kinesis
// records.
func shardRecords(t *testing.T) (*stream, string, []types.Record) {
	t.Helper()
	o := oneShardStream.get(t, func(t *testing.T) oneShard {
		s := newStream(t, 1)
		s.produce(t, 1500, 7)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		id := shardIDs(ctx, t, s.kc, s.name)[0]
		return oneShard{s, id, readShard(ctx, t, s.kc, s.name, id)}
	})
	return o.s, o.shard, o.recs
}

func oneEvent(t *testing.T, stream, shard string, recs []types.Record) events.KinesisEvent {
	t.Helper()
	evs := lambdaEvents(t, stream, shard, recs, len(recs))
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	return evs[0]
}

func responseJSON(t *testing.T, resp events.KinesisEventResponse) string {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestForEachPartialBatch: a handler failing in the middle of an aggregate stops there; the response
// names the aggregate's sequence number. Lambda's re-delivery (the Kinesis records from that sequence
// number on) brings the aggregate's first user records again, and a handler that skips what is not
// After its last success processes every user record exactly once over the two invocations.
func TestForEachPartialBatch(t *testing.T) {
	s, shard, recs := shardRecords(t)
	ev := oneEvent(t, s.name, shard, recs)
	all := kinesislambda.Records(ev)

	// Fail at the third user record of the middle aggregate.
	failAt := -1
	for i, r := range all[len(all)/2:] {
		if r.Aggregated && r.SubSequenceNumber == 2 {
			failAt = len(all)/2 + i
			break
		}
	}
	if failAt < 0 {
		t.Fatal("no aggregate of three or more user records in kpl's output")
	}
	failSeq, failSub := all[failAt].SequenceNumber, all[failAt].SubSequenceNumber

	var processed []kinesislambda.Record
	var lastSeq string
	lastSub := -1
	failed := false
	handle := func(ctx context.Context, r kinesislambda.Record) error {
		if r.SequenceNumber == failSeq && r.SubSequenceNumber == failSub && !failed {
			failed = true
			return errors.New("downstream unavailable") // fails the first time only
		}
		if lastSeq != "" && !r.After(lastSeq, lastSub) {
			return nil // processed by an earlier invocation
		}
		processed = append(processed, r)
		lastSeq, lastSub = r.SequenceNumber, r.SubSequenceNumber
		return nil
	}

	resp := kinesislambda.ForEach(context.Background(), ev, handle)
	if got, want := responseJSON(t, resp), `{"batchItemFailures":[{"itemIdentifier":"`+failSeq+`"}]}`; got != want {
		t.Fatalf("response %s, want %s", got, want)
	}
	if len(processed) != failAt {
		t.Fatalf("processed %d records before the failure, want %d", len(processed), failAt)
	}

	// Lambda checkpoints before the reported record and invokes again from it.
	from := slices.IndexFunc(recs, func(r types.Record) bool { return aws.ToString(r.SequenceNumber) == failSeq })
	redelivered := oneEvent(t, s.name, shard, recs[from:])
	var again int
	resp = kinesislambda.ForEach(context.Background(), redelivered, func(ctx context.Context, r kinesislambda.Record) error {
		if r.SequenceNumber == failSeq && r.SubSequenceNumber < failSub {
			again++ // already processed: comes again with the same position
		}
		return handle(ctx, r)
	})
	if got := responseJSON(t, resp); got != `{"batchItemFailures":[]}` {
		t.Fatalf("second response %s, want complete success", got)
	}
	if again != failSub {
		t.Errorf("%d user records of the failed aggregate came again, want %d", again, failSub)
	}
	if len(processed) != len(all) {
		t.Fatalf("processed %d records over both invocations, want %d", len(processed), len(all))
	}
	for i := range all {
		if processed[i].SequenceNumber != all[i].SequenceNumber || processed[i].SubSequenceNumber != all[i].SubSequenceNumber {
			t.Fatalf("record %d: processed %s/%d, want %s/%d", i, processed[i].SequenceNumber,
				processed[i].SubSequenceNumber, all[i].SequenceNumber, all[i].SubSequenceNumber)
		}
	}
}

// TestForEachStopsAtContext: once ctx is done, ForEach passes no further Kinesis record to fn and
// reports the next one, so Lambda re-delivers everything not processed.
func TestForEachStopsAtContext(t *testing.T) {
	s, shard, recs := shardRecords(t)
	ev := oneEvent(t, s.name, shard, recs)
	if len(ev.Records) < 3 {
		t.Fatalf("%d Kinesis records", len(ev.Records))
	}
	stopAfter := ev.Records[1].Kinesis.SequenceNumber
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seqs []string
	resp := kinesislambda.ForEach(ctx, ev, func(_ context.Context, r kinesislambda.Record) error {
		seqs = append(seqs, r.SequenceNumber)
		if r.SequenceNumber == stopAfter {
			cancel() // the rest of this Kinesis record is still processed
		}
		return nil
	})
	want := ev.Records[2].Kinesis.SequenceNumber
	if got := responseJSON(t, resp); got != `{"batchItemFailures":[{"itemIdentifier":"`+want+`"}]}` {
		t.Fatalf("response %s, want the third Kinesis record %s", got, want)
	}
	if slices.Contains(seqs, want) || seqs[len(seqs)-1] != stopAfter {
		t.Fatalf("fn saw records after the context ended (last %s)", seqs[len(seqs)-1])
	}
}

// TestFailedAt: the response of a range loop that stops at a record, as Lambda reads it.
func TestFailedAt(t *testing.T) {
	s, shard, recs := shardRecords(t)
	ev := oneEvent(t, s.name, shard, recs)
	var resp events.KinesisEventResponse
	n := 0
	for r := range kinesislambda.All(ev) {
		if n == 700 {
			resp = kinesislambda.FailedAt(r)
			break
		}
		n++
	}
	want := kinesislambda.Records(ev)[700].SequenceNumber
	if got := responseJSON(t, resp); got != `{"batchItemFailures":[{"itemIdentifier":"`+want+`"}]}` {
		t.Fatalf("response %s", got)
	}
}

// TestSampleEvent reads testdata/kinesis-event.json, an event in the shape of the Lambda developer
// guide's sample (two plain records of one shard).
func TestSampleEvent(t *testing.T) {
	b, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	got := kinesislambda.Records(ev)
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	want := []struct {
		pk, data, seq string
		arrival       time.Time
	}{
		{"order-17", "Hello from the sample event.", "49660123456789012345678901234567890123456789012345678901", time.UnixMilli(1764921600123)},
		{"order-18", "", "49660123456789012345678901234567890123456789012345678902", time.UnixMilli(1764921600999)},
	}
	for i, w := range want {
		r := got[i]
		if r.PartitionKey != w.pk || string(r.Data) != w.data || r.SequenceNumber != w.seq || r.SubSequenceNumber != 0 ||
			r.Aggregated || r.ShardID != "shardId-000000000006" || !r.ApproximateArrival.Equal(w.arrival) || r.DecodeError != nil {
			t.Errorf("record %d = {%q %q %s/%d aggregated %v shard %q arrival %v err %v}, want {%q %q %s/0 plain shardId-000000000006 %v}",
				i, r.PartitionKey, r.Data, r.SequenceNumber, r.SubSequenceNumber, r.Aggregated, r.ShardID, r.ApproximateArrival, r.DecodeError,
				w.pk, w.data, w.seq, w.arrival)
		}
	}
	if got[0].Source.EventSourceArn != "arn:aws:kinesis:us-east-2:123456789012:stream/orders" || got[0].Source.AwsRegion != "us-east-2" {
		t.Errorf("Source = %+v", got[0].Source)
	}
}

func TestAfter(t *testing.T) {
	tests := []struct {
		name   string
		seq    string
		sub    int
		afterS string
		afterN int
		want   bool
	}{
		{"later sequence number", "200", 0, "199", 5, true},
		{"earlier sequence number", "199", 9, "200", 0, false},
		{"longer number is larger", "1000", 0, "999", 0, true},
		{"shorter number is smaller", "999", 3, "1000", 0, false},
		{"leading zeros ignored", "0100", 1, "100", 0, true},
		{"same record, later sub", "500", 3, "500", 2, true},
		{"same record, same sub", "500", 2, "500", 2, false},
		{"same record, earlier sub", "500", 1, "500", 2, false},
		{"56-digit numbers", "49660123456789012345678901234567890123456789012345678902", 0,
			"49660123456789012345678901234567890123456789012345678901", 99, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kinesislambda.Record{SequenceNumber: tt.seq, SubSequenceNumber: tt.sub}
			if got := r.After(tt.afterS, tt.afterN); got != tt.want {
				t.Errorf("Record{%s/%d}.After(%s, %d) = %v, want %v", tt.seq, tt.sub, tt.afterS, tt.afterN, got, tt.want)
			}
		})
	}
}

// TestShardID: the shard ID comes from the eventID's prefix; anything else gives "".
func TestShardID(t *testing.T) {
	for eventID, want := range map[string]string{
		"shardId-000000000006:49590338271490256608559692538361571095921575989136588898": "shardId-000000000006",
		"shardId-000000000000:1": "shardId-000000000000",
		"":                       "",
		"49590338271490256608559692538361571095921575989136588898": "",
		"other:123": "",
	} {
		ev := events.KinesisEvent{Records: []events.KinesisEventRecord{{EventID: eventID, Kinesis: events.KinesisRecord{Data: []byte("x")}}}}
		if got := kinesislambda.Records(ev)[0].ShardID; got != want {
			t.Errorf("eventID %q: ShardID %q, want %q", eventID, got, want)
		}
	}
}
