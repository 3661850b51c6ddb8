package localstack_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
)

// adoptProc records the data it is given, per shard, and checkpoints each batch.
type adoptProc struct {
	mu   *sync.Mutex
	got  map[string][]string
	init map[string]kcl.InitializeInput
}

func (p adoptProc) Initialize(_ context.Context, in kcl.InitializeInput) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init[in.ShardID] = in
	return nil
}

func (p adoptProc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.mu.Lock()
	for _, r := range in.Records {
		p.got[in.ShardID] = append(p.got[in.ShardID], string(r.Data))
	}
	p.mu.Unlock()
	return in.Checkpointer.Checkpoint(ctx, in.Records[len(in.Records)-1].Position)
}

func (p adoptProc) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

// A lease table written the way the Java KCL 2.x writes it (attribute names and types, checkpoints inside
// an aggregated record, owned by a Java worker that is gone) is resumed from exactly those checkpoints:
// the worker takes the expired leases and delivers only what follows each checkpoint.
func TestKCLAdoptsJavaLeaseTable(t *testing.T) {
	dc := testenv.DynamoDB(t)
	ctx := testenv.Context(t, time.Minute)
	_, kc := localKinesis(t)
	stream := testenv.UniqueName(t, "adopt")
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := shards.Shards[0], shards.Shards[1]
	put := func(shard int, pk, ehk string, data []byte) string {
		t.Helper()
		if ehk == "" {
			ehk = aws.ToString(shards.Shards[shard].HashKeyRange.StartingHashKey)
		}
		out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(pk),
			ExplicitHashKey: aws.String(ehk), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SequenceNumber)
	}
	// Shard 0: an aggregate of a0..a4 (explicit hash keys inside shard 0), then a plain record.
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for i := range 5 {
		if err := agg.Add(aggregation.Record{PartitionKey: "a", ExplicitHashKey: aws.ToString(s0.HashKeyRange.StartingHashKey),
			Data: fmt.Appendf(nil, "a%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	rec, _, err := agg.Flush()
	if err != nil {
		t.Fatal(err)
	}
	aggSeq := put(0, rec.PartitionKey, rec.ExplicitHashKey, rec.Data)
	put(0, "p", "", []byte("after"))
	// Shard 1: r0, r1, r2.
	put(1, "p", "", []byte("r0"))
	r1 := put(1, "p", "", []byte("r1"))
	put(1, "p", "", []byte("r2"))

	app := testenv.UniqueName(t, "app")
	testenv.DeleteTableOnCleanup(t, dc, app)
	m, err := lease.NewManager(dc, app, "shardwise-1", lease.Failover(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	S := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	N := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	items := []map[string]ddbtypes.AttributeValue{
		{"leaseKey": S(aws.ToString(s0.ShardId)), "leaseOwner": S("java-host-1"), "leaseCounter": N(17),
			"ownerSwitchesSinceCheckpoint": N(0), "checkpoint": S(aggSeq), "checkpointSubSequenceNumber": N(2),
			"startingHashKey": S(aws.ToString(s0.HashKeyRange.StartingHashKey)), "endingHashKey": S(aws.ToString(s0.HashKeyRange.EndingHashKey))},
		{"leaseKey": S(aws.ToString(s1.ShardId)), "leaseOwner": S("java-host-2"), "leaseCounter": N(40),
			"ownerSwitchesSinceCheckpoint": N(1), "checkpoint": S(r1), "checkpointSubSequenceNumber": N(0)},
	}
	for _, it := range items {
		if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(app), Item: it,
			Expected: map[string]ddbtypes.ExpectedAttributeValue{"leaseKey": {Exists: aws.Bool(false)}}}); err != nil {
			t.Fatal(err)
		}
	}

	p := adoptProc{mu: &sync.Mutex{}, got: map[string][]string{}, init: map[string]kcl.InitializeInput{}}
	w, err := kcl.NewWorker(kc, m, stream, func(string) kcl.RecordProcessor { return p }, kcl.PollInterval(200*time.Millisecond), kcl.TakeInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	want := map[string][]string{aws.ToString(s0.ShardId): {"a3", "a4", "after"}, aws.ToString(s1.ShardId): {"r2"}}
	waitFor(t, ctx, "records after the Java checkpoints", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.got[aws.ToString(s0.ShardId)]) >= 3 && len(p.got[aws.ToString(s1.ShardId)]) >= 1
	})
	time.Sleep(500 * time.Millisecond) // would-be extra deliveries (duplicates) show up within a poll or two
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, kcl.ErrWorkerClosed) {
		t.Fatalf("Run = %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for shard, w := range want {
		if !slices.Equal(p.got[shard], w) {
			t.Errorf("shard %s delivered %v, want %v", shard, p.got[shard], w)
		}
	}
	if in := p.init[aws.ToString(s0.ShardId)]; in.Start != (kcl.Position{SequenceNumber: aggSeq, SubSequenceNumber: 2}) {
		t.Errorf("shard 0 started at %v, want %s/2", in.Start, aggSeq)
	}
	l, err := m.Get(ctx, aws.ToString(s1.ShardId))
	if err != nil {
		t.Fatal(err)
	}
	if l.Owner != "" || l.Checkpoint == r1 || l.OwnerSwitchesSinceCheckpoint != 0 {
		t.Errorf("shard 1 lease after shutdown: %+v, want released and checkpointed past r1", l)
	}
}
