package kcl

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is a small in-memory Kinesis behind KinesisAPI for unit tests under testing/synctest (no
// sockets, time from time.Now). One stream. It supports what the worker calls plus split and merge.
type fakeKinesis struct {
	KinesisAPI // fan-out methods: not implemented (nil: calling them panics)

	mu       sync.Mutex
	stream   string
	shards   []*fakeShard
	seq      int64
	pageSize int
	// getErr, when set, is consulted before every GetRecords; a non-nil error is returned instead.
	getErr func(shardID string, call int) error
	// nullNext, when set, makes a GetRecords answer carry no NextShardIterator (and no ChildShards)
	// when it returns true, even for an open shard.
	nullNext func(shardID string, call int) bool
	calls    map[string][]time.Time // GetRecords call times per shard
}

type fakeShard struct {
	id         string
	parents    []string
	start, end *big.Int
	records    []types.Record
	closed     bool
	children   []string
}

func newFakeKinesis(stream string, shards int) *fakeKinesis {
	f := &fakeKinesis{stream: stream, pageSize: 2, calls: map[string][]time.Time{}}
	maxKey := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	step := new(big.Int).Div(new(big.Int).Add(maxKey, big.NewInt(1)), big.NewInt(int64(shards)))
	for i := 0; i < shards; i++ {
		s := new(big.Int).Mul(step, big.NewInt(int64(i)))
		e := new(big.Int).Sub(new(big.Int).Add(s, step), big.NewInt(1))
		if i == shards-1 {
			e = maxKey
		}
		f.shards = append(f.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i), start: s, end: e})
	}
	return f
}

func (f *fakeKinesis) shard(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

// put appends a record with the given data to shard id and returns its sequence number.
func (f *fakeKinesis) put(id, pk string, data []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shard(id)
	if s == nil || s.closed {
		panic("fakeKinesis: put to missing or closed shard " + id)
	}
	f.seq++
	seq := fmt.Sprintf("49%024d", f.seq)
	s.records = append(s.records, types.Record{
		SequenceNumber: aws.String(seq), PartitionKey: aws.String(pk), Data: data,
		ApproximateArrivalTimestamp: aws.Time(time.Now()),
	})
	return seq
}

// split closes shard id and adds two children dividing its range in the middle.
func (f *fakeKinesis) split(id string) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.shard(id)
	mid := new(big.Int).Rsh(new(big.Int).Add(p.start, p.end), 1)
	a := &fakeShard{id: fmt.Sprintf("shardId-%012d", len(f.shards)), parents: []string{id}, start: p.start, end: mid}
	b := &fakeShard{id: fmt.Sprintf("shardId-%012d", len(f.shards)+1), parents: []string{id}, start: new(big.Int).Add(mid, big.NewInt(1)), end: p.end}
	p.closed, p.children = true, []string{a.id, b.id}
	f.shards = append(f.shards, a, b)
	return a.id, b.id
}

// merge closes two adjacent shards and adds their child.
func (f *fakeKinesis) merge(x, y string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, b := f.shard(x), f.shard(y)
	c := &fakeShard{id: fmt.Sprintf("shardId-%012d", len(f.shards)), parents: []string{x, y}, start: a.start, end: b.end}
	a.closed, b.closed = true, true
	a.children, b.children = []string{c.id}, []string{c.id}
	f.shards = append(f.shards, c)
	return c.id
}

func (f *fakeKinesis) getCalls(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[id])
}

func (f *fakeKinesis) ListShards(_ context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := 0
	if in.NextToken != nil {
		if in.StreamName != nil {
			return nil, &types.InvalidArgumentException{Message: aws.String("NextToken and StreamName cannot be provided together")}
		}
		start, _ = strconv.Atoi(*in.NextToken)
	} else if aws.ToString(in.StreamName) != f.stream {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no stream")}
	}
	out := &kinesis.ListShardsOutput{}
	for i := start; i < len(f.shards) && i < start+f.pageSize; i++ {
		s := f.shards[i]
		sh := types.Shard{
			ShardId:             aws.String(s.id),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(s.start.String()), EndingHashKey: aws.String(s.end.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")},
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("99999999999999999999999999999")
		}
		if len(s.parents) > 0 {
			sh.ParentShardId = aws.String(s.parents[0])
		}
		if len(s.parents) > 1 {
			sh.AdjacentParentShardId = aws.String(s.parents[1])
		}
		out.Shards = append(out.Shards, sh)
	}
	if start+f.pageSize < len(f.shards) {
		out.NextToken = aws.String(strconv.Itoa(start + f.pageSize))
	}
	return out, nil
}

func (f *fakeKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shard(aws.ToString(in.ShardId))
	if s == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no shard")}
	}
	pos := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeTrimHorizon:
	case types.ShardIteratorTypeLatest:
		pos = len(s.records)
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		seq := aws.ToString(in.StartingSequenceNumber)
		pos = slices.IndexFunc(s.records, func(r types.Record) bool { return compareSequenceNumbers(*r.SequenceNumber, seq) >= 0 })
		if pos < 0 {
			pos = len(s.records)
		} else if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber && *s.records[pos].SequenceNumber == seq {
			pos++
		}
	case types.ShardIteratorTypeAtTimestamp:
		pos = slices.IndexFunc(s.records, func(r types.Record) bool { return !r.ApproximateArrivalTimestamp.Before(*in.Timestamp) })
		if pos < 0 {
			pos = len(s.records)
		}
	default:
		return nil, &types.InvalidArgumentException{Message: aws.String("bad type")}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(s.id + "/" + strconv.Itoa(pos))}, nil
}

func (f *fakeKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	id, p, ok := strings.Cut(aws.ToString(in.ShardIterator), "/")
	if !ok {
		return nil, &types.InvalidArgumentException{Message: aws.String("bad iterator")}
	}
	f.mu.Lock()
	f.calls[id] = append(f.calls[id], time.Now())
	n := len(f.calls[id])
	hook, null := f.getErr, f.nullNext
	f.mu.Unlock()
	if hook != nil {
		if err := hook(id, n); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shard(id)
	pos, _ := strconv.Atoi(p)
	end := min(len(s.records), pos+int(aws.ToInt32(in.Limit)))
	out := &kinesis.GetRecordsOutput{Records: slices.Clone(s.records[pos:end]), MillisBehindLatest: aws.Int64(int64(len(s.records) - end))}
	if s.closed && end == len(s.records) {
		for _, c := range s.children {
			cs := f.shard(c)
			out.ChildShards = append(out.ChildShards, types.ChildShard{
				ShardId: aws.String(c), ParentShards: slices.Clone(cs.parents),
				HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String(cs.start.String()), EndingHashKey: aws.String(cs.end.String())},
			})
		}
		return out, nil
	}
	if null != nil && null(id, n) {
		return out, nil
	}
	out.NextShardIterator = aws.String(id + "/" + strconv.Itoa(end))
	return out, nil
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
