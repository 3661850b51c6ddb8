package kpl_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// The whole life cycle against an in-process Kinesis (kinesistest): New, PutAsync, Flush, Close.
// Records of one partition key go to one shard; aggregation packs the user records bound for a
// shard into few Kinesis records.
func Example() {
	srv, err := kinesistest.NewServer(kinesistest.Stream("orders", 4))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	p, err := kpl.New(srv.KinesisClient(), "orders")
	if err != nil {
		log.Fatal(err)
	}
	var futures []*kpl.Future
	for i := range 100 {
		r := kpl.Record{PartitionKey: fmt.Sprintf("customer-%d", i%10), Data: fmt.Appendf(nil, `{"order":%d}`, i)}
		futures = append(futures, p.PutAsync(ctx, r))
	}
	if err := p.Flush(ctx); err != nil { // every record delivered or failed
		log.Fatal(err)
	}
	p.Close()

	perShard := map[string]int{}
	for _, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		perShard[res.ShardID]++
	}
	for _, shard := range slices.Sorted(maps.Keys(perShard)) {
		fmt.Println(shard, perShard[shard])
	}
	// Output:
	// shardId-000000000000 20
	// shardId-000000000001 10
	// shardId-000000000002 40
	// shardId-000000000003 30
}

// The same life cycle against AWS, with error handling by kind. Compile-only.
func Example_aws() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := kpl.New(kinesis.NewFromConfig(cfg), "my-stream", kpl.Linger(50*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	f := p.PutAsync(ctx, kpl.Record{PartitionKey: "user-42", Data: []byte(`{"event":"login"}`)})
	res, err := f.Wait(ctx)
	var recErr *kpl.RecordError
	switch {
	case errors.Is(err, kpl.ErrRecordExpired) && errors.As(err, &recErr):
		log.Printf("gave up after %d attempts, last code %s", len(recErr.Attempts), recErr.Code)
	case err != nil:
		log.Print(err)
	default:
		log.Printf("stored in %s at %s/%d", res.ShardID, res.SequenceNumber, res.SubSequenceNumber)
	}

	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Flush(flushCtx); err != nil {
		log.Print(err)
	}
}
