package kinesistest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func ExampleNewServer() {
	srv, err := kinesistest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
		log.Fatal(err)
	}
	put, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("customer-1"), Data: []byte("order 1")})
	if err != nil {
		log.Fatal(err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: put.ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		log.Fatal(err)
	}
	out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range out.Records {
		fmt.Printf("%s %s %q\n", aws.ToString(put.ShardId), aws.ToString(r.PartitionKey), r.Data)
	}
	// Output: shardId-000000000000 customer-1 "order 1"
}

func ExampleServer_Control() {
	srv, err := kinesistest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// Throttle the first entry of every PutRecords call to stream "orders".
	remove := srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" || req.StreamName() != "orders" {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{FailEntries: map[int]string{0: kinesistest.CodeThroughputExceeded}}, true
	})
	defer remove()
	kc := srv.KinesisClient()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
		log.Fatal(err)
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: []byte("1")},
		{PartitionKey: aws.String("b"), Data: []byte("2")},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range out.Records {
		fmt.Println(i, aws.ToString(r.ErrorCode), r.SequenceNumber != nil)
	}
	// Output:
	// 0 ProvisionedThroughputExceededException false
	// 1  true
}

// A server on the virtual network with a stream made at start. The same code runs inside a
// testing/synctest bubble, where waiting on the server takes no real time.
func ExampleVirtualNetwork() {
	srv, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.Stream("orders", 2))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	out, err := kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		log.Fatal(err)
	}
	for _, sh := range out.Shards {
		fmt.Println(aws.ToString(sh.ShardId), aws.ToString(sh.HashKeyRange.StartingHashKey))
	}
	// Output:
	// shardId-000000000000 0
	// shardId-000000000001 170141183460469231731687303715884105728
}
