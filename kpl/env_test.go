package kpl

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
)

// The unit tests run the producer against kinesistest on its virtual network, inside the test's
// synctest bubble: the wire protocol and the SDK are real, time is the bubble's.

// adminApp marks the test's own calls (set-up, splits, read-back) in their User-Agent, so that the
// controls a test installs with env.control and the producer's call counts leave them out.
const adminApp = "kpltest-admin"

// env is a kinesistest server with stream "s" and the clients around it.
type env struct {
	t     testing.TB
	srv   *kinesistest.Server
	kc    *kinesis.Client // the producer's client: a stock SDK client, as users make it
	admin *kinesis.Client // the test's own client: one attempt per call

	mu      sync.Mutex
	calls   map[string]int // the producer's calls per operation
	entries []int          // entries per PutRecords call, in arrival order, when recording
	record  bool
}

// newEnv starts a server holding stream "s" of n shards, with ListShards pages of 2 shards (so
// every producer pages through its map) unless opts say otherwise. Call it inside the bubble.
func newEnv(t testing.TB, n int, opts ...kinesistest.Option) *env {
	t.Helper()
	base := []kinesistest.Option{kinesistest.VirtualNetwork(), kinesistest.Stream("s", n), kinesistest.ListShardsPageLimit(2)}
	srv, err := kinesistest.NewServer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{t: t, srv: srv, kc: srv.KinesisClient(), calls: map[string]int{},
		admin: srv.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 1; o.AppID = adminApp })}
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if isAdmin(req) {
			return kinesistest.Action{}, true // no test control, no random fault
		}
		var n int
		e.mu.Lock()
		e.calls[req.Op]++
		rec := e.record && req.Op == "PutRecords"
		e.mu.Unlock()
		if rec {
			n = len(req.Entries())
			e.mu.Lock()
			e.entries = append(e.entries, n)
			e.mu.Unlock()
		}
		return kinesistest.Action{}, false
	})
	return e
}

func isAdmin(req kinesistest.Request) bool {
	return strings.Contains(req.Header.Get("User-Agent"), "app/"+adminApp)
}

// control installs fn for the producer's calls (the test's own pass untouched); it returns the
// function removing it.
func (e *env) control(fn kinesistest.ControlFunc) (remove func()) {
	return e.srv.Control(fn)
}

// onPut installs fn for the producer's PutRecords calls; call is 0 for the first.
func (e *env) onPut(fn func(call int, req kinesistest.Request) (kinesistest.Action, bool)) (remove func()) {
	return e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" {
			return kinesistest.Action{}, false
		}
		return fn(int(req.Nth-1), req)
	})
}

// failEntries returns the Action failing the entries of req for which code returns a code.
func failEntries(req kinesistest.Request, code func(i int, e kinesistest.PutEntry) string) (kinesistest.Action, bool) {
	var fail map[int]string
	for i, en := range req.Entries() {
		if c := code(i, en); c != "" {
			if fail == nil {
				fail = map[int]string{}
			}
			fail[i] = c
		}
	}
	return kinesistest.Action{FailEntries: fail}, fail != nil
}

// failCall answers a call with the error Kinesis gives for code (HTTP 500 for InternalFailure,
// 400 for the others).
func failCall(code string) (kinesistest.Action, bool) {
	return kinesistest.Action{Err: kinesistest.NewError(code)}, true
}

// recordEntries makes the env note how many entries each later PutRecords call carries.
func (e *env) recordEntries() {
	e.mu.Lock()
	e.record = true
	e.mu.Unlock()
}

// entryCounts returns the entries per PutRecords call noted since recordEntries.
func (e *env) entryCounts() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.entries...)
}

// count returns how many calls of op the producer (not the test) made.
func (e *env) count(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[op]
}

func (e *env) callCount() int     { return e.count("PutRecords") }
func (e *env) listCount() int     { return e.count("ListShards") }
func (e *env) describeCount() int { return e.count("DescribeStreamSummary") }

// shards lists the stream's shards (open and closed) in creation order.
func (e *env) shards() []types.Shard {
	e.t.Helper()
	var all []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String("s")}
	for {
		out, err := e.admin.ListShards(context.Background(), in)
		if err != nil {
			e.t.Fatalf("ListShards: %v", err)
		}
		all = append(all, out.Shards...)
		if out.NextToken == nil {
			return all
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func shardRange(e *env, sh types.Shard) aggregation.HashRange {
	e.t.Helper()
	r, err := aggregation.ParseHashRange(aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// rangeOf returns the hash range of shard id.
func (e *env) rangeOf(id string) aggregation.HashRange {
	e.t.Helper()
	for _, sh := range e.shards() {
		if aws.ToString(sh.ShardId) == id {
			return shardRange(e, sh)
		}
	}
	e.t.Fatalf("no shard %s", id)
	return aggregation.HashRange{}
}

// split splits shard id at the middle of its hash range.
func (e *env) split(id string) {
	e.t.Helper()
	mid := e.rangeOf(id).Midpoint()
	if _, err := e.admin.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String("s"),
		ShardToSplit: aws.String(id), NewStartingHashKey: aws.String(mid.String())}); err != nil {
		e.t.Fatalf("SplitShard(%s): %v", id, err)
	}
}

// setAuto switches the stream to AUTO record distribution (ON_DEMAND first, as Kinesis requires),
// or back to USER_PARTITION_KEY.
func (e *env) setAuto(auto bool) {
	e.t.Helper()
	ctx := context.Background()
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")
	if auto {
		if _, err := e.admin.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: arn,
			StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
			e.t.Fatalf("UpdateStreamMode: %v", err)
		}
	}
	strategy := types.RecordDistributionStrategyUserPartitionKey
	if auto {
		strategy = types.RecordDistributionStrategyAuto
	}
	if _, err := e.admin.UpdateStreamRecordDistributionStrategy(ctx, &kinesis.UpdateStreamRecordDistributionStrategyInput{
		StreamARN: arn, RecordDistributionStrategy: strategy}); err != nil {
		e.t.Fatalf("UpdateStreamRecordDistributionStrategy: %v", err)
	}
}

// setMaxRecordKiB sets the stream's maximum record size (UpdateMaxRecordSize).
func (e *env) setMaxRecordKiB(kib int32) {
	e.t.Helper()
	if _, err := e.admin.UpdateMaxRecordSize(context.Background(), &kinesis.UpdateMaxRecordSizeInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), MaxRecordSizeInKiB: aws.Int32(kib)}); err != nil {
		e.t.Fatalf("UpdateMaxRecordSize(%d): %v", kib, err)
	}
}

// storedShard is what a shard holds, read back with GetRecords.
type storedShard struct {
	id      string
	rng     aggregation.HashRange
	records []types.Record
}

// stored reads every shard from TRIM_HORIZON to its end, in creation order (a parent before its
// children, as a KCL consumer reads them).
func (e *env) stored() []storedShard {
	e.t.Helper()
	ctx := context.Background()
	var out []storedShard
	for _, sh := range e.shards() {
		s := storedShard{id: aws.ToString(sh.ShardId), rng: shardRange(e, sh)}
		it, err := e.admin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			e.t.Fatalf("GetShardIterator(%s): %v", s.id, err)
		}
		iter := it.ShardIterator
		for iter != nil {
			got, err := e.admin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				e.t.Fatalf("GetRecords(%s): %v", s.id, err)
			}
			s.records = append(s.records, got.Records...)
			if len(got.Records) == 0 && aws.ToInt64(got.MillisBehindLatest) == 0 {
				break // an open shard's end
			}
			iter = got.NextShardIterator // nil past a closed shard's end
		}
		out = append(out, s)
	}
	return out
}

// userRecords deaggregates everything stored, per shard, in shard order; a plain record gets its
// Kinesis record's partition key.
func (e *env) userRecords() map[string][]aggregation.UserRecord {
	e.t.Helper()
	m := map[string][]aggregation.UserRecord{}
	for _, s := range e.stored() {
		for _, r := range s.records {
			urs, err := aggregation.Deaggregate(r.Data)
			if err != nil {
				e.t.Fatal(err)
			}
			if !aggregation.IsAggregated(r.Data) {
				urs[0].PartitionKey = aws.ToString(r.PartitionKey)
			}
			m[s.id] = append(m[s.id], urs...)
		}
	}
	return m
}

// storedCount returns the Kinesis records stored.
func (e *env) storedCount() int {
	e.t.Helper()
	n := 0
	for _, s := range e.stored() {
		n += len(s.records)
	}
	return n
}

// hold keeps a call in flight, unapplied, until release is closed (or its client gives up), then
// lets it through.
func hold(req kinesistest.Request, release <-chan struct{}) (kinesistest.Action, bool) {
	select {
	case <-release:
	case <-req.Context().Done():
	}
	return kinesistest.Action{}, false
}
