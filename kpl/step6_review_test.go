package kpl

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// A call in flight during Close whose aggregate lands on a shard other than predicted (the stream
// was split meanwhile): its user records' futures resolve (delivered where a consumer keeps them,
// else ErrClosed).
func TestCloseDuringWrongShardCallResolvesFutures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		release := make(chan struct{})
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			if call == 0 {
				return hold(req, release)
			}
			return kinesistest.Action{}, false
		})
		p, err := New(e.kc, "s", RateLimit(0), Linger(0), ShardMapRefreshInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // map with one shard
		var futs []*Future
		for i := range 10 {
			futs = append(futs, p.PutAsync(context.Background(), rec("k"+strconv.Itoa(i), i)))
		}
		time.Sleep(time.Millisecond)    // the aggregate's call is in flight, blocked
		e.split("shardId-000000000000") // it will be stored on a child the producer never listed
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		time.Sleep(time.Millisecond)
		close(release)
		<-closed
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pending := 0
		for _, fu := range futs {
			if _, err := fu.Wait(ctx); errors.Is(err, context.DeadlineExceeded) {
				pending++
			}
		}
		if pending > 0 {
			t.Fatalf("%d of %d futures never resolved after Close (Stats %+v)", pending, len(futs), p.Stats())
		}
	})
}

// StrictOrdering keeps per-key order under faults without a shard map too (ListShards denied, or
// DisableShardPrediction): a call carries one record per key, so a failed entry is resent before
// any later record of its key.
func TestStrictOrderingWithoutShardMap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.recordEntries()
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(i int, _ kinesistest.PutEntry) string {
				if call == 0 && i == 0 {
					return codeInternalFailure
				}
				return ""
			})
		})
		p := mustNew(t, e.kc, StrictOrdering(), DisableShardPrediction(), RateLimit(0),
			RetryBackoff(time.Millisecond, 10*time.Millisecond))
		var futs []*Future
		for i := 1; i <= 10; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k", i)))
		}
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		var order []string
		for _, urs := range e.userRecords() {
			for _, u := range urs {
				order = append(order, string(u.Data))
			}
		}
		if order[0] != "k:1" {
			t.Fatalf("StrictOrdering broken for one key: stream order %v (calls carried %v entries)", order, e.entryCounts())
		}
	})
}

// An AUTO stream whose DescribeStreamSummary is denied (a policy written before AUTO existed:
// PutRecords + ListShards): wrong-shard streaks under two fresh maps of the same shards make the
// producer take the stream for AUTO, so no record expires going round from shard to shard.
func TestAutoInferredWhenDescribeDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 16)
		e.setAuto(true)
		e.control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op == "DescribeStreamSummary" {
				return failCall(kinesistest.CodeAccessDenied)
			}
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc, RateLimit(0))
		time.Sleep(time.Millisecond)
		var futs []*Future
		for i := range 5000 {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		expired := 0
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); errors.Is(err, ErrRecordExpired) {
				expired++
			}
		}
		if expired > 0 {
			t.Fatalf("%d of 5000 records expired on an AUTO stream with DescribeStreamSummary denied", expired)
		}
	})
}

// A request-level validation error that no record causes (every call refused, as for a malformed
// stream name) is not bisected down to every entry (2n-1 calls) nor blamed on the records: the
// call fails as a whole after halves and quarters were refused alike.
func TestRequestWideRefusalNotBisectedToTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) { return failCall(kinesistest.CodeValidation) })
		p := mustNew(t, e.kc, DisableAggregation(), RateLimit(0))
		time.Sleep(time.Millisecond)
		var futs []*Future
		for i := range 500 {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		invalid := 0
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); errors.Is(err, ErrInvalidRecord) {
				invalid++
			}
		}
		if e.callCount() > 10 || invalid != 0 {
			t.Fatalf("%d PutRecords calls for 500 records, %d blamed with ErrInvalidRecord", e.callCount(), invalid)
		}
	})
}

// An aggregate over the stream's record limit (AggregationMaxSize above it while the first
// DescribeStreamSummary was throttled) is not failed with its valid records: aggregates stay within
// 1 MiB until the limit is known, and a refused aggregate's records are sent again one by one.
func TestRefusedAggregateResentRecordByRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1) // a stream of 1 MiB records
		// The producer's first describe is throttled: as many calls as the SDK's 3 attempts.
		e.control(kinesistest.FailFirst("DescribeStreamSummary", 3, kinesistest.NewError(kinesistest.CodeLimitExceeded)))
		e.control(kinesistest.RejectEntries(func(en kinesistest.PutEntry) bool { return len(en.Data)+len(en.PartitionKey) > 1<<20 }))
		p := mustNew(t, e.kc, AggregationMaxSize(4<<20), RateLimit(0))
		time.Sleep(time.Millisecond)
		var futs []*Future
		for i := range 30 {
			futs = append(futs, p.PutAsync(t.Context(), Record{PartitionKey: "k" + strconv.Itoa(i), Data: make([]byte, 100<<10)}))
		}
		failed := 0
		var last error
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				failed++
				last = err
			}
		}
		if failed > 0 {
			t.Fatalf("%d of 30 records of 100 KiB failed on a 1 MiB stream: %v", failed, last)
		}
	})
}
