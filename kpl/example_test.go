package kpl_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kpl"
)

// The whole life cycle: New, PutAsync, Flush, Close. Compile-only (needs AWS).
func Example() {
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
