package kinesistest_test

import (
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestConcurrentWritersAndReshard writes from several goroutines (HTTP/1.1 and h2c) while the stream
// is split, then reads every shard and checks each record arrived exactly once, in increasing sequence
// order per shard. Run with -race.
func TestConcurrentWritersAndReshard(t *testing.T) {
	srv, c := start(t)
	h2 := newClient(t, srv, srv.HTTP2Client())
	ctx := ctxT(t)
	createStream(t, c, "conc", 2)
	const writers, calls, per = 4, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		client := c
		if w%2 == 1 {
			client = h2
		}
		wg.Go(func() {
			for i := range calls {
				var e []types.PutRecordsRequestEntry
				for j := range per {
					e = append(e, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("%d-%d-%d", w, i, j)), Data: []byte(fmt.Sprintf("%d-%d-%d", w, i, j))})
				}
				out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("conc"), Records: e})
				if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
					errs <- fmt.Errorf("writer %d call %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("conc"), ShardToSplit: aws.String("shardId-000000000001"),
			NewStartingHashKey: aws.String("255211775190703847597530955573826158592")}); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, s := range listShards(t, c, "conc", nil) {
		it := iterator(t, c, "conc", aws.ToString(s.ShardId), types.ShardIteratorTypeTrimHorizon, "")
		var last *big.Int
		for it != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				seen[string(r.Data)]++
				n, _ := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
				if last != nil && n.Cmp(last) <= 0 {
					t.Errorf("shard %s: sequence %s after %s", aws.ToString(s.ShardId), n, last)
				}
				last = n
			}
			if len(out.Records) == 0 {
				break
			}
			it = out.NextShardIterator
		}
	}
	if len(seen) != writers*calls*per {
		t.Errorf("read %d distinct records, want %d", len(seen), writers*calls*per)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s read %d times", k, n)
		}
	}
}
