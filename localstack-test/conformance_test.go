package localstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/internal/testenv"
)

// TestConformanceWithKinesisMock runs one scenario against kinesis-mock (the engine LocalStack uses)
// and against kinesistest, and requires the same observations where kinesis-mock is known to be
// correct: the stream description, shard ids, parents and hash ranges after a split and a merge, record
// routing and the put/get round trip, every iterator type, and the error types for a missing stream.
// (kinesis-mock's ShardFilter AT_TRIM_HORIZON/AT_TIMESTAMP, fan-out shard ends and throttling are
// wrong or absent, so they are tested against kinesistest alone, in its own package.)
func TestConformanceWithKinesisMock(t *testing.T) {
	mockClient := testenv.Kinesis(t) // skips without AWS_ENDPOINT_URL_KINESIS
	ctx := testenv.Context(t, 2*time.Minute)

	_, localClient := localKinesis(t)

	mockName := testenv.UniqueName(t, "conf")
	testenv.DeleteStreamOnCleanup(t, mockClient, mockName)
	mock := runConformanceScenario(t, ctx, mockClient, mockName)
	local := runConformanceScenario(t, ctx, localClient, "conformance")

	// kinesis-mock splits the key space one below AWS: a 2-shard stream ends shard 0 at 2^127-2, where
	// AWS (and kinesistest) end it at 2^127-1. Check kinesistest against AWS, then align the mock.
	if got := local.Initial[0].End; got != awsHalfEnd {
		t.Errorf("kinesistest: shard 0 of 2 ends at %s, AWS ends it at %s", got, awsHalfEnd)
	}
	for _, layout := range [][]conformanceShard{mock.Initial, mock.AfterSplit, mock.AfterMerge} {
		for i := range layout {
			if layout[i].End == mockHalfEnd {
				layout[i].End = awsHalfEnd
			}
			if layout[i].Start == awsHalfEnd {
				layout[i].Start = awsHalfStart
			}
		}
	}
	if !reflect.DeepEqual(mock, local) {
		m, _ := json.MarshalIndent(mock, "", "  ")
		l, _ := json.MarshalIndent(local, "", "  ")
		t.Errorf("kinesis-mock and kinesistest disagree\nkinesis-mock:\n%s\nkinesistest:\n%s", m, l)
	}
}

const (
	mockHalfEnd  = "170141183460469231731687303715884105726" // 2^127-2
	awsHalfEnd   = "170141183460469231731687303715884105727" // 2^127-1
	awsHalfStart = "170141183460469231731687303715884105728" // 2^127
)

type conformanceShard struct {
	ID, Parent, Adjacent, Start, End string
	Closed                           bool
}

type conformanceRecord struct {
	Shard, PartitionKey, Data string
}

// conformanceResult is what the scenario observes, free of names, ARNs, sequence numbers and times.
type conformanceResult struct {
	Status, Mode, Encryption string
	Retention, OpenShards    int32
	Initial                  []conformanceShard
	AfterSplit               []conformanceShard
	AfterMerge               []conformanceShard
	Routed                   []string            // shard of each PutRecords entry
	SequencesIncrease        bool                // per shard, in put order
	RoundTrip                []conformanceRecord // TRIM_HORIZON read of every shard
	Iterators                map[string][]string // data read from each iterator type
	MissingStream            map[string]string   // error code per operation on a missing stream
}

func runConformanceScenario(t *testing.T, ctx context.Context, kc *kinesis.Client, name string) conformanceResult {
	t.Helper()
	var res conformanceResult
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	sum := testenv.WaitStreamActive(t, ctx, kc, name)
	res.Status, res.Mode, res.Encryption = string(sum.StreamStatus), string(sum.StreamModeDetails.StreamMode), string(sum.EncryptionType)
	res.Retention, res.OpenShards = aws.ToInt32(sum.RetentionPeriodHours), aws.ToInt32(sum.OpenShardCount)
	res.Initial = conformanceShards(testenv.Shards(t, ctx, kc, name))

	// Routing and round trip.
	var entries []types.PutRecordsRequestEntry
	for i := range 8 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("key-%d", i)), Data: []byte(fmt.Sprintf("data-%d", i))})
	}
	put, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	if err != nil || aws.ToInt32(put.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v (%d failed)", err, aws.ToInt32(put.FailedRecordCount))
	}
	res.SequencesIncrease = true
	lastSeq := map[string]string{}
	for _, r := range put.Records {
		shard, seq := aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)
		res.Routed = append(res.Routed, shard)
		if prev, ok := lastSeq[shard]; ok && !seqLess(prev, seq) {
			res.SequencesIncrease = false
		}
		lastSeq[shard] = seq
	}
	var first []types.Record // shard 0, TRIM_HORIZON
	for _, s := range res.Initial {
		recs := conformanceRead(t, ctx, kc, name, s.ID, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if s.ID == res.Initial[0].ID {
			first = recs
		}
		for _, r := range recs {
			res.RoundTrip = append(res.RoundTrip, conformanceRecord{Shard: s.ID, PartitionKey: aws.ToString(r.PartitionKey), Data: string(r.Data)})
		}
	}
	if len(first) < 2 {
		t.Fatalf("shard %s holds %d records, the scenario needs 2", res.Initial[0].ID, len(first))
	}

	// Iterator types, on shard 0.
	shard0 := res.Initial[0].ID
	latest := conformanceIterator(t, ctx, kc, name, shard0, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeLatest})
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: first[0].PartitionKey, Data: []byte("after-latest")}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	res.Iterators = map[string][]string{
		"LATEST": conformanceData(conformanceDrain(t, ctx, kc, latest)),
		"TRIM_HORIZON": conformanceData(conformanceRead(t, ctx, kc, name, shard0,
			&kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon})),
		"AT_SEQUENCE_NUMBER": conformanceData(conformanceRead(t, ctx, kc, name, shard0,
			&kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: first[1].SequenceNumber})),
		"AFTER_SEQUENCE_NUMBER": conformanceData(conformanceRead(t, ctx, kc, name, shard0,
			&kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: first[1].SequenceNumber})),
		"AT_TIMESTAMP(first arrival)": conformanceData(conformanceRead(t, ctx, kc, name, shard0,
			&kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: first[0].ApproximateArrivalTimestamp})),
	}
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard0),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(time.Hour))})
	res.Iterators["AT_TIMESTAMP(future)"] = []string{apiErrorCode(err)}

	// Split shard 0 at the middle of its range, then merge the children back.
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String(shard0),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	testenv.WaitStreamActive(t, ctx, kc, name)
	res.AfterSplit = conformanceShards(testenv.Shards(t, ctx, kc, name))
	if len(res.AfterSplit) != 4 {
		t.Fatalf("after split: %d shards", len(res.AfterSplit))
	}
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String(res.AfterSplit[2].ID),
		AdjacentShardToMerge: aws.String(res.AfterSplit[3].ID)}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	testenv.WaitStreamActive(t, ctx, kc, name)
	res.AfterMerge = conformanceShards(testenv.Shards(t, ctx, kc, name))

	// Errors for a stream that does not exist.
	missing := aws.String(name + "-missing")
	res.MissingStream = map[string]string{}
	for op, call := range map[string]func() error{
		"DescribeStreamSummary": func() error {
			_, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: missing})
			return err
		},
		"DescribeStream": func() error {
			_, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: missing})
			return err
		},
		"ListShards": func() error {
			_, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: missing})
			return err
		},
		"PutRecord": func() error {
			_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: missing, PartitionKey: aws.String("k"), Data: []byte("x")})
			return err
		},
		"GetShardIterator": func() error {
			_, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: missing, ShardId: aws.String(shard0), ShardIteratorType: types.ShardIteratorTypeLatest})
			return err
		},
		"DeleteStream": func() error {
			_, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: missing})
			return err
		},
	} {
		res.MissingStream[op] = apiErrorCode(call())
	}
	return res
}

func conformanceShards(shards []types.Shard) []conformanceShard {
	out := make([]conformanceShard, len(shards))
	for i, s := range shards {
		out[i] = conformanceShard{
			ID:       aws.ToString(s.ShardId),
			Parent:   aws.ToString(s.ParentShardId),
			Adjacent: aws.ToString(s.AdjacentParentShardId),
			Start:    aws.ToString(s.HashKeyRange.StartingHashKey),
			End:      aws.ToString(s.HashKeyRange.EndingHashKey),
			Closed:   s.SequenceNumberRange.EndingSequenceNumber != nil,
		}
	}
	return out
}

func conformanceIterator(t *testing.T, ctx context.Context, kc *kinesis.Client, stream, shard string, in *kinesis.GetShardIteratorInput) *string {
	t.Helper()
	in.StreamName, in.ShardId = aws.String(stream), aws.String(shard)
	out, err := kc.GetShardIterator(ctx, in)
	if err != nil {
		t.Fatalf("GetShardIterator(%s, %s): %v", shard, in.ShardIteratorType, err)
	}
	return out.ShardIterator
}

func conformanceRead(t *testing.T, ctx context.Context, kc *kinesis.Client, stream, shard string, in *kinesis.GetShardIteratorInput) []types.Record {
	t.Helper()
	return conformanceDrain(t, ctx, kc, conformanceIterator(t, ctx, kc, stream, shard, in))
}

// conformanceDrain reads until a call returns no records (the scenario's shards hold a handful).
func conformanceDrain(t *testing.T, ctx context.Context, kc *kinesis.Client, it *string) []types.Record {
	t.Helper()
	var recs []types.Record
	for it != nil {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 {
			break
		}
		it = out.NextShardIterator
	}
	return recs
}

func conformanceData(recs []types.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

// apiErrorCode returns the error code of an API error, or a description of anything else.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprintf("not an API error: %v", err)
}

// seqLess compares decimal sequence numbers.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
