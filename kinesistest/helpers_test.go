package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kinesistest"
)

// start runs a server for the test and returns it with a stock SDK client pointed at it.
func start(t testing.TB, opts ...kinesistest.Option) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, newClient(t, srv, srv.Client())
}

func newClient(t testing.TB, srv *kinesistest.Server, hc *http.Client) *kinesis.Client {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  hc,
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		o.RetryMaxAttempts = 1
	})
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createStream(t testing.TB, c *kinesis.Client, name string, shards int32) *kinesis.DescribeStreamSummaryOutput {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream(%s): %v", name, err)
	}
	out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
	}
	return out
}

func listShards(t testing.TB, c *kinesis.Client, name string, filter *types.ShardFilter) []types.Shard {
	t.Helper()
	var all []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(name), ShardFilter: filter}
	for {
		out, err := c.ListShards(ctxT(t), in)
		if err != nil {
			t.Fatalf("ListShards(%s): %v", name, err)
		}
		all = append(all, out.Shards...)
		if out.NextToken == nil {
			return all
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: in.MaxResults}
	}
}

func shardIDs(shards []types.Shard) []string {
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	return ids
}

// wantCode fails the test unless err is an API error with the given code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%v), want %s", ae.ErrorCode(), err, code)
	}
}

func iterator(t testing.TB, c *kinesis.Client, stream, shard string, typ types.ShardIteratorType, seq string) *string {
	t.Helper()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := c.GetShardIterator(ctxT(t), in)
	if err != nil {
		t.Fatalf("GetShardIterator(%s, %s, %s): %v", shard, typ, seq, err)
	}
	return out.ShardIterator
}

// drain reads a shard from it until no records come back, returning the data as strings.
func drain(t testing.TB, c *kinesis.Client, it *string) ([]string, *kinesis.GetRecordsOutput) {
	t.Helper()
	var got []string
	for {
		out, err := c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
		if len(out.Records) == 0 || out.NextShardIterator == nil {
			return got, out
		}
		it = out.NextShardIterator
	}
}

func putN(t testing.TB, c *kinesis.Client, stream string, n int, key func(i int) string) *kinesis.PutRecordsOutput {
	t.Helper()
	entries := make([]types.PutRecordsRequestEntry, n)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("rec-%d", i)), PartitionKey: aws.String(key(i))}
	}
	out, err := c.PutRecords(ctxT(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	return out
}
