package localstack_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/fanout"
	"github.com/shardwise/shardwise/internal/testenv"
)

// TestFanOutSmoke runs the internal/fanout machinery against kinesis-mock (HTTP/2 over TLS through the
// initial-response shim): four workers ensure one consumer at once, every shard is subscribed, records
// put afterwards are pushed in order, and a subscriber closed midway is replaced AFTER its last
// continuation sequence number without loss or duplicate. Skips without the engines.
func TestFanOutSmoke(t *testing.T) {
	fc := testenv.FanOutKinesis(t) // skips when the fan-out endpoint is not configured
	kc := testenv.Kinesis(t)
	ctx := testenv.Context(t, 2*time.Minute)
	stream := testenv.CreateStream(t, ctx, 2)
	streamARN, err := fanout.StreamARN(ctx, kc, stream)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.UniqueName(t, "efo")
	arns := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range arns {
		wg.Go(func() { arns[i], errs[i] = fanout.EnsureConsumer(ctx, kc, streamARN, name) })
	}
	wg.Wait()
	for i := range arns {
		if errs[i] != nil || arns[i] != arns[0] {
			t.Fatalf("EnsureConsumer worker %d: %q, %v (worker 0: %q)", i, arns[i], errs[i], arns[0])
		}
	}
	consumerARN := arns[0]
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fanout.Deregister(cctx, kc, consumerARN); err != nil {
			t.Errorf("Deregister: %v", err)
		}
	})

	shards := testenv.Shards(t, ctx, kc, stream)
	subs := map[string]*fanout.Subscriber{}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		sub, err := fanout.Subscribe(ctx, fc, consumerARN, id, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Close)
		subs[id] = sub
	}

	// 40 records over 8 keys; remember what each shard got, in order.
	want := map[string][]string{}
	var entries []types.PutRecordsRequestEntry
	for i := range 40 {
		entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("r%02d", i)), PartitionKey: aws.String(fmt.Sprint("key-", i%8))})
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			t.Fatalf("entry %d: %s", i, aws.ToString(r.ErrorMessage))
		}
		want[aws.ToString(r.ShardId)] = append(want[aws.ToString(r.ShardId)], string(entries[i].Data))
	}

	for id, sub := range subs {
		n := len(want[id])
		// Half through the first subscriber, the rest through a new one after its continuation.
		got, cont := readFanOut(t, ctx, sub, n/2)
		sub.Close()
		if cont == "" {
			t.Fatalf("shard %s: no continuation sequence number", id)
		}
		if len(got) < n {
			next, err := fanout.Subscribe(ctx, fc, consumerARN, id,
				types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(cont)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(next.Close)
			rest, _ := readFanOut(t, ctx, next, n-len(got))
			got = append(got, rest...)
		}
		if strings.Join(got, ",") != strings.Join(want[id], ",") {
			t.Errorf("shard %s: got %v, want %v", id, got, want[id])
		}
	}
}

// readFanOut reads events until at least n records arrived; it returns their data and the last
// continuation sequence number.
func readFanOut(t *testing.T, ctx context.Context, sub *fanout.Subscriber, n int) ([]string, string) {
	t.Helper()
	var got []string
	cont := ""
	for len(got) < n || cont == "" {
		ev, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, fanout.ErrDone) {
				break
			}
			t.Fatalf("Next after %d of %d records: %v", len(got), n, err)
		}
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
		cont = ev.ContinuationSequenceNumber
	}
	return got, cont
}
