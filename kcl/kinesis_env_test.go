package kcl

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
)

// testKinesis is one stream on a kinesistest server on the virtual network, for the worker's unit
// tests inside synctest bubbles, with an SDK client that does not retry (the worker's own retries
// are under test) and helpers to write to a chosen shard, reshard and shape GetRecords answers.
type testKinesis struct {
	*kinesis.Client
	srv    *kinesistest.Server
	stream string

	mu sync.Mutex
	// getErr, when set, is consulted before every GetRecords (call counts from 1 per shard); a
	// non-nil error answers the call instead.
	getErr func(shardID string, call int) *kinesistest.Error
	// nullNext, when set, makes a GetRecords answer carry no NextShardIterator and no ChildShards
	// when it returns true, even for an open shard (what engines without ChildShards send).
	nullNext func(shardID string, call int) bool
	calls    map[string][]time.Time // GetRecords call times per shard
}

func newTestKinesis(t *testing.T, stream string, shards int) *testKinesis {
	t.Helper()
	srv, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.Stream(stream, shards))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f := &testKinesis{srv: srv, stream: stream, calls: map[string][]time.Time{},
		Client: srv.KinesisClient(func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })}
	srv.Control(f.control)
	return f
}

func (f *testKinesis) control(req kinesistest.Request) (kinesistest.Action, bool) {
	if req.Op != "GetRecords" {
		return kinesistest.Action{}, false
	}
	id := req.ShardID()
	f.mu.Lock()
	f.calls[id] = append(f.calls[id], time.Now())
	n := len(f.calls[id])
	getErr, nullNext := f.getErr, f.nullNext
	f.mu.Unlock()
	if getErr != nil {
		if err := getErr(id, n); err != nil {
			return kinesistest.Action{Err: err}, true
		}
	}
	if nullNext != nil && nullNext(id, n) {
		return kinesistest.Action{Edit: dropNextIterator}, true
	}
	return kinesistest.Action{}, false
}

// dropNextIterator removes NextShardIterator and ChildShards from a GetRecords answer.
func dropNextIterator(answer []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(answer, &m) != nil {
		return answer
	}
	delete(m, "NextShardIterator")
	delete(m, "ChildShards")
	out, err := json.Marshal(m)
	if err != nil {
		return answer
	}
	return out
}

func (f *testKinesis) getCalls(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[id])
}

// shards lists every shard of the stream, closed ones included.
func (f *testKinesis) shards() []types.Shard {
	var all []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(f.stream)}
	for {
		out, err := f.ListShards(context.Background(), in)
		if err != nil {
			panic("testKinesis: ListShards: " + err.Error())
		}
		all = append(all, out.Shards...)
		if out.NextToken == nil {
			return all
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func (f *testKinesis) shard(id string) types.Shard {
	for _, s := range f.shards() {
		if aws.ToString(s.ShardId) == id {
			return s
		}
	}
	panic("testKinesis: no shard " + id)
}

func shardHashRange(s types.Shard) aggregation.HashRange {
	r, err := aggregation.ParseHashRange(aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
	if err != nil {
		panic(err)
	}
	return r
}

// put writes a record with the given data to shard id (by an explicit hash key at the start of its
// range) and returns its sequence number.
func (f *testKinesis) put(id, pk string, data []byte) string {
	s := f.shard(id)
	if s.SequenceNumberRange.EndingSequenceNumber != nil {
		panic("testKinesis: put to closed shard " + id)
	}
	out, err := f.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(f.stream), PartitionKey: aws.String(pk),
		ExplicitHashKey: s.HashKeyRange.StartingHashKey, Data: data})
	if err != nil {
		panic("testKinesis: PutRecord: " + err.Error())
	}
	if got := aws.ToString(out.ShardId); got != id {
		panic("testKinesis: record for " + id + " went to " + got)
	}
	return aws.ToString(out.SequenceNumber)
}

// children returns the shards whose parent (or adjacent parent) is id, in shard order.
func (f *testKinesis) children(id string) []string {
	var out []string
	for _, s := range f.shards() {
		if aws.ToString(s.ParentShardId) == id || aws.ToString(s.AdjacentParentShardId) == id {
			out = append(out, aws.ToString(s.ShardId))
		}
	}
	return out
}

// split splits shard id at the middle of its range and returns the two children.
func (f *testKinesis) split(id string) (string, string) {
	mid := shardHashRange(f.shard(id)).Midpoint()
	if _, err := f.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String(f.stream), ShardToSplit: aws.String(id),
		NewStartingHashKey: aws.String(mid.String())}); err != nil {
		panic("testKinesis: SplitShard: " + err.Error())
	}
	c := f.children(id)
	return c[0], c[1]
}

// merge merges two adjacent shards and returns their child.
func (f *testKinesis) merge(x, y string) string {
	if _, err := f.MergeShards(context.Background(), &kinesis.MergeShardsInput{StreamName: aws.String(f.stream), ShardToMerge: aws.String(x),
		AdjacentShardToMerge: aws.String(y)}); err != nil {
		panic("testKinesis: MergeShards: " + err.Error())
	}
	return f.children(x)[0]
}

var errFake = errors.New("fake: injected failure")

// procFunc is a processor made of a ProcessRecords function; it remembers the last checkpointer.
type procFuncT struct {
	fn   func(ctx context.Context, in ProcessRecordsInput) error
	mu   sync.Mutex
	last Checkpointer
}

func procFunc(fn func(ctx context.Context, in ProcessRecordsInput) error) *procFuncT {
	return &procFuncT{fn: fn}
}

func (p *procFuncT) Initialize(context.Context, InitializeInput) error { return nil }
func (p *procFuncT) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	p.mu.Lock()
	p.last = in.Checkpointer
	p.mu.Unlock()
	return p.fn(ctx, in)
}
func (p *procFuncT) Shutdown(context.Context, ShutdownInput) error { return nil }

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
