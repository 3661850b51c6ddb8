package kpl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/aggregation"
)

// fakeKinesis is an in-memory PutRecords/ListShards/DescribeStreamSummary for unit tests. Records
// are routed by hash key to the open shard owning it, as Kinesis does.
type fakeKinesis struct {
	mu        sync.Mutex
	shards    []*fakeShard
	maxKiB    int32
	pageSize  int
	seq       int
	calls     int
	entries   []int // entries per PutRecords call
	optsSeen  []kinesis.Options
	listCalls int

	auto          bool // AUTO distribution: records go round-robin over open shards, keys ignored
	autoNext      int
	describeCalls int
	// describeFault fails DescribeStreamSummary call n when it returns an error.
	describeFault func(call int) error
	// listFault fails ListShards call n when it returns an error.
	listFault func(call int) error
	// reqFault fails a PutRecords call as a whole, seeing its input (before applying it).
	reqFault func(in *kinesis.PutRecordsInput) error

	// entryFault returns an ErrorCode for entry i of call n, or "".
	entryFault func(call, i int, e types.PutRecordsRequestEntry) string
	// callFault fails call n as a whole (before applying it) when it returns an error.
	callFault func(call int) error
	// onPut runs at the start of each call, under no lock (e.g. to block).
	onPut func(call int)
	// hang holds call n unanswered until the caller gives up (its context ends) when it returns true.
	hang func(call int) bool
	// afterPut fails call n after it was applied when it returns an error (a connection reset
	// after Kinesis wrote the records: the client cannot know they were written).
	afterPut func(call int) error
}

type fakeShard struct {
	id      string
	rng     aggregation.HashRange
	open    bool
	records []stored
}

type stored struct {
	pk, ehk string
	data    []byte
	seq     string
}

func newFake(n int) *fakeKinesis {
	f := &fakeKinesis{pageSize: 2}
	// Split [0, 2^128-1] into n equal ranges.
	step := ^uint64(0) / uint64(n)
	for i := 0; i < n; i++ {
		start := aggregation.HashKeyFromUint64s(step*uint64(i), 0)
		end := aggregation.HashKeyFromUint64s(step*uint64(i+1)-1, ^uint64(0))
		if i == n-1 {
			end = aggregation.MaxHashKey
		}
		f.shards = append(f.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i), rng: aggregation.HashRange{Start: start, End: end}, open: true})
	}
	return f
}

// split closes shard i and opens two children halving its range.
func (f *fakeKinesis) split(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.shards[i]
	p.open = false
	hi, lo := p.rng.Start.Uint64s()
	ehi, elo := p.rng.End.Uint64s()
	// midpoint = start + (end-start)/2, on the high halves (ranges here are wide).
	mid := aggregation.HashKeyFromUint64s(hi+(ehi-hi)/2, 0)
	_ = lo
	_ = elo
	midHi, _ := mid.Uint64s()
	n := len(f.shards)
	f.shards = append(f.shards,
		&fakeShard{id: fmt.Sprintf("shardId-%012d", n), rng: aggregation.HashRange{Start: p.rng.Start, End: aggregation.HashKeyFromUint64s(midHi-1, ^uint64(0))}, open: true},
		&fakeShard{id: fmt.Sprintf("shardId-%012d", n+1), rng: aggregation.HashRange{Start: mid, End: p.rng.End}, open: true})
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)"}
}

func (f *fakeKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	var o kinesis.Options
	for _, fn := range optFns {
		fn(&o)
	}
	f.mu.Lock()
	call := f.calls
	f.calls++
	f.entries = append(f.entries, len(in.Records))
	f.optsSeen = append(f.optsSeen, o)
	onPut, callFault, afterPut, hang := f.onPut, f.callFault, f.afterPut, f.hang
	f.mu.Unlock()
	if onPut != nil {
		onPut(call)
	}
	if hang != nil && hang(call) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if in.StreamName == nil && in.StreamARN == nil {
		return nil, apiError("ValidationException")
	}
	if callFault != nil {
		if err := callFault(call); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reqFault != nil {
		if err := f.reqFault(in); err != nil {
			return nil, err
		}
	}
	for _, e := range in.Records {
		// Kinesis's model: ExplicitHashKey matches 0|([1-9]\d{0,38}); a violation fails the call.
		if ehk := aws.ToString(e.ExplicitHashKey); len(ehk) > 1 && ehk[0] == '0' {
			return nil, apiError("ValidationException")
		}
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	failed := int32(0)
	for i, e := range in.Records {
		if f.entryFault != nil {
			if code := f.entryFault(call, i, e); code != "" {
				out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake " + code)}
				failed++
				continue
			}
		}
		hk, err := aggregation.EffectiveHashKey(aws.ToString(e.PartitionKey), aws.ToString(e.ExplicitHashKey))
		if err != nil {
			return nil, apiError("ValidationException")
		}
		var sh *fakeShard
		for _, s := range f.shards {
			if s.open && s.rng.Contains(hk) {
				sh = s
			}
		}
		if f.auto {
			var open []*fakeShard
			for _, s := range f.shards {
				if s.open {
					open = append(open, s)
				}
			}
			sh = open[f.autoNext%len(open)]
			f.autoNext++
		}
		f.seq++
		seq := strconv.Itoa(f.seq)
		sh.records = append(sh.records, stored{pk: aws.ToString(e.PartitionKey), ehk: aws.ToString(e.ExplicitHashKey), data: append([]byte(nil), e.Data...), seq: seq})
		out.Records[i] = types.PutRecordsResultEntry{ShardId: aws.String(sh.id), SequenceNumber: aws.String(seq)}
	}
	out.FailedRecordCount = aws.Int32(failed)
	if afterPut != nil {
		if err := afterPut(call); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (f *fakeKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	if f.listFault != nil {
		if err := f.listFault(f.listCalls - 1); err != nil {
			return nil, err
		}
	}
	start := 0
	if in.NextToken != nil {
		if in.StreamName != nil || in.StreamARN != nil {
			return nil, apiError("InvalidArgumentException")
		}
		start, _ = strconv.Atoi(*in.NextToken)
	} else if in.StreamName == nil && in.StreamARN == nil {
		return nil, apiError("InvalidArgumentException")
	}
	out := &kinesis.ListShardsOutput{}
	end := min(start+f.pageSize, len(f.shards))
	for _, s := range f.shards[start:end] {
		sh := types.Shard{ShardId: aws.String(s.id), HashKeyRange: &types.HashKeyRange{
			StartingHashKey: aws.String(s.rng.Start.String()), EndingHashKey: aws.String(s.rng.End.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}
		if !s.open {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("99")
		}
		out.Shards = append(out.Shards, sh)
	}
	if end < len(f.shards) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeKinesis) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := f.describeCalls
	f.describeCalls++
	if f.describeFault != nil {
		if err := f.describeFault(call); err != nil {
			return nil, err
		}
	}
	out := &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{}}
	if f.auto {
		out.StreamDescriptionSummary.RecordDistributionStrategy = types.RecordDistributionStrategyAuto
	}
	if f.maxKiB > 0 {
		out.StreamDescriptionSummary.MaxRecordSizeInKiB = aws.Int32(f.maxKiB)
	}
	return out, nil
}

// userRecords deaggregates everything stored, per shard, in shard order.
func (f *fakeKinesis) userRecords() map[string][]aggregation.UserRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string][]aggregation.UserRecord{}
	for _, s := range f.shards {
		for _, r := range s.records {
			urs, err := aggregation.Deaggregate(r.data)
			if err != nil {
				panic(err)
			}
			if !aggregation.IsAggregated(r.data) {
				urs[0].PartitionKey, urs[0].ExplicitHashKey = r.pk, r.ehk
			}
			m[s.id] = append(m[s.id], urs...)
		}
	}
	return m
}

func (f *fakeKinesis) rangeOf(id string) aggregation.HashRange {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.shards {
		if s.id == id {
			return s.rng
		}
	}
	panic("no shard " + id)
}

var errReset = errors.New("read tcp: connection reset by peer")

func (f *fakeKinesis) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeKinesis) listCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listCalls
}

func (f *fakeKinesis) setAuto(auto bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auto = auto
}

func (f *fakeKinesis) describeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.describeCalls
}

// storedCount returns the Kinesis records stored.
func (f *fakeKinesis) storedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.shards {
		n += len(s.records)
	}
	return n
}
