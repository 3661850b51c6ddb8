package kinesislambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shardwise/shardwise/aggregation"
	kinesislambda "github.com/shardwise/shardwise/lambda"
)

// handler is the function main passes to lambda.Start. Records whose data is "poison" cannot be
// stored: the batch stops there, and Lambda re-delivers from the Kinesis record carrying it.
func handler(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	return kinesislambda.ForEach(ctx, ev, func(ctx context.Context, r kinesislambda.Record) error {
		if string(r.Data) == "poison" {
			err := errors.New("cannot store")
			fmt.Printf("failed %s %s/%d: %v\n", r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, err)
			return err
		}
		fmt.Printf("stored %s %s/%d %q aggregated=%v\n", r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data, r.Aggregated)
		return nil
	}), nil
}

// A handler for an event with a plain record and a KPL aggregate of three user records, the third of
// which fails.
func Example() {
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for _, r := range []aggregation.Record{
		{PartitionKey: "user-1", Data: []byte("click")},
		{PartitionKey: "user-2", Data: []byte("view")},
		{PartitionKey: "user-3", Data: []byte("poison")},
	} {
		if err := agg.Add(r); err != nil {
			log.Fatal(err)
		}
	}
	kinesisRecord, _, err := agg.Flush()
	if err != nil {
		log.Fatal(err)
	}
	// The event as Lambda sends it (sequence numbers shortened).
	evJSON := fmt.Sprintf(`{"Records": [
	  {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "user-0", "sequenceNumber": "101",
	     "data": %q, "approximateArrivalTimestamp": 1764921600.123},
	   "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:101",
	   "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/consumer",
	   "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"},
	  {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": %q, "sequenceNumber": "102",
	     "data": %q, "approximateArrivalTimestamp": 1764921600.456},
	   "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:102",
	   "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/consumer",
	   "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}
	]}`, base64.StdEncoding.EncodeToString([]byte("login")),
		kinesisRecord.PartitionKey, base64.StdEncoding.EncodeToString(kinesisRecord.Data))

	var ev events.KinesisEvent
	if err := json.Unmarshal([]byte(evJSON), &ev); err != nil {
		log.Fatal(err)
	}
	resp, _ := handler(context.Background(), ev)
	out, _ := json.Marshal(resp)
	fmt.Println(string(out))
	// Output:
	// stored user-0 101/0 "login" aggregated=false
	// stored user-1 102/0 "click" aggregated=true
	// stored user-2 102/1 "view" aggregated=true
	// failed user-3 102/2: cannot store
	// {"batchItemFailures":[{"itemIdentifier":"102"}]}
}

// Records after a re-delivery: the handler stored the position of its last success and skips what
// is not after it.
func ExampleRecord_After() {
	lastSeq, lastSub := "102", 1 // stored by the previous invocation
	for _, r := range []kinesislambda.Record{
		{SequenceNumber: "102", SubSequenceNumber: 0},
		{SequenceNumber: "102", SubSequenceNumber: 1},
		{SequenceNumber: "102", SubSequenceNumber: 2},
		{SequenceNumber: "1000", SubSequenceNumber: 0},
	} {
		fmt.Println(r.SequenceNumber, r.SubSequenceNumber, r.After(lastSeq, lastSub))
	}
	// Output:
	// 102 0 false
	// 102 1 false
	// 102 2 true
	// 1000 0 true
}
