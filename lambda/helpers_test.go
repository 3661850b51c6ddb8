package kinesislambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// The Kinesis event for Lambda as the Lambda developer guide documents it ("Example Kinesis record
// event"): Records[] of {kinesis: {kinesisSchemaVersion, partitionKey, sequenceNumber, data (base64),
// approximateArrivalTimestamp (epoch seconds with milliseconds)}, eventSource "aws:kinesis",
// eventVersion "1.0", eventID "<shardId>:<sequenceNumber>", eventName "aws:kinesis:record",
// invokeIdentityArn, awsRegion, eventSourceARN}. These types are the test's own, so the JSON does not
// come from aws-lambda-go's marshalling of the very types it is read back into.
type awsEvent struct {
	Records []awsEventRecord `json:"Records"`
}

type awsEventRecord struct {
	Kinesis           awsKinesisRecord `json:"kinesis"`
	EventSource       string           `json:"eventSource"`
	EventVersion      string           `json:"eventVersion"`
	EventID           string           `json:"eventID"`
	EventName         string           `json:"eventName"`
	InvokeIdentityArn string           `json:"invokeIdentityArn"`
	AwsRegion         string           `json:"awsRegion"`
	EventSourceARN    string           `json:"eventSourceARN"`
}

type awsKinesisRecord struct {
	KinesisSchemaVersion        string      `json:"kinesisSchemaVersion"`
	PartitionKey                string      `json:"partitionKey"`
	SequenceNumber              string      `json:"sequenceNumber"`
	Data                        string      `json:"data"`
	ApproximateArrivalTimestamp json.Number `json:"approximateArrivalTimestamp"`
}

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
)

// eventJSON is the event Lambda sends for these Kinesis records of one shard.
func eventJSON(t testing.TB, stream, shardID string, recs []types.Record) []byte {
	t.Helper()
	var ev awsEvent
	for _, r := range recs {
		seq := aws.ToString(r.SequenceNumber)
		ms := aws.ToTime(r.ApproximateArrivalTimestamp).UnixMilli()
		ev.Records = append(ev.Records, awsEventRecord{
			Kinesis: awsKinesisRecord{
				KinesisSchemaVersion:        "1.0",
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              seq,
				Data:                        base64.StdEncoding.EncodeToString(r.Data),
				ApproximateArrivalTimestamp: json.Number(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)),
			},
			EventSource:       "aws:kinesis",
			EventVersion:      "1.0",
			EventID:           shardID + ":" + seq,
			EventName:         "aws:kinesis:record",
			InvokeIdentityArn: "arn:aws:iam::" + testAccount + ":role/lambda-kinesis-role",
			AwsRegion:         testRegion,
			EventSourceARN:    "arn:aws:kinesis:" + testRegion + ":" + testAccount + ":stream/" + stream,
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lambdaEvents cuts a shard's records into events of at most batch Kinesis records (the event source
// mapping's BatchSize) and unmarshals each as a handler receives it.
func lambdaEvents(t testing.TB, stream, shardID string, recs []types.Record, batch int) []events.KinesisEvent {
	t.Helper()
	var out []events.KinesisEvent
	for len(recs) > 0 {
		n := min(batch, len(recs))
		var ev events.KinesisEvent
		if err := json.Unmarshal(eventJSON(t, stream, shardID, recs[:n]), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
		recs = recs[n:]
	}
	return out
}

// readShard returns every record of a shard from TRIM_HORIZON, as GetRecords returns them.
func readShard(ctx context.Context, t testing.TB, kc *kinesis.Client, stream, shardID string) []types.Record {
	t.Helper()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shardID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	iter := it.ShardIterator
	for iter != nil {
		res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Records...)
		if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
			break
		}
		iter = res.NextShardIterator
	}
	return out
}

// shardIDs lists a stream's shards.
func shardIDs(ctx context.Context, t testing.TB, kc *kinesis.Client, stream string) []string {
	t.Helper()
	res, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range res.Shards {
		ids = append(ids, aws.ToString(s.ShardId))
	}
	return ids
}
