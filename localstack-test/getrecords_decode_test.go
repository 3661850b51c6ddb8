package localstack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/shardwise/shardwise/internal/kinesisjson"
	"github.com/shardwise/shardwise/internal/testenv"
)

// capture is an HTTP client that keeps a copy of the last response body.
type capture struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	body []byte
}

func (c *capture) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// TestGetRecordsFastDecodeOnEngines checks the consumers' GetRecords decoder (internal/kinesisjson)
// on the answers real engines send: it must take a plain answer of kinesis-mock and of kinesistest
// itself (or it would never be used) and decode every answer, shard end included, exactly as the SDK
// does.
func TestGetRecordsFastDecodeOnEngines(t *testing.T) {
	mockClient := testenv.Kinesis(t) // skips without AWS_ENDPOINT_URL_KINESIS
	ctx := testenv.Context(t, time.Minute)
	_, localClient := localKinesis(t)

	for _, eng := range []struct {
		name   string
		kc     *kinesis.Client
		stream string
	}{
		{"kinesis-mock", mockClient, ""},
		{"kinesistest", localClient, "decode"},
	} {
		t.Run(eng.name, func(t *testing.T) {
			name := eng.stream
			if name == "" {
				name = testenv.UniqueName(t, "dec")
				testenv.DeleteStreamOnCleanup(t, eng.kc, name)
			}
			if _, err := eng.kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
				t.Fatal(err)
			}
			testenv.WaitStreamActive(t, ctx, eng.kc, name)
			var entries []types.PutRecordsRequestEntry
			for i := range 50 {
				data := bytes.Repeat([]byte{byte(i), 0xFF, '"', '\\', '\n', 0}, i+1)
				entries = append(entries, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String("ключ-" + string(rune('a'+i%26)))})
			}
			if _, err := eng.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries}); err != nil {
				t.Fatal(err)
			}
			ls, err := eng.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			parent := aws.ToString(ls.Shards[0].ShardId)
			it, err := eng.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name),
				ShardId: aws.String(parent), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			// A plain answer with records: the fast path must take it.
			want, body := getRecordsBoth(t, ctx, eng.kc, aws.ToString(it.ShardIterator))
			var out kinesis.GetRecordsOutput
			if !kinesisjson.DecodeGetRecords(body, &out) {
				t.Fatalf("the fast decoder refused %s's answer: %.1500s", eng.name, body)
			}
			if len(want.Records) != len(entries) {
				t.Fatalf("%d records, want %d", len(want.Records), len(entries))
			}
			for i, r := range want.Records {
				if !bytes.Equal(r.Data, entries[i].Data) || aws.ToString(r.PartitionKey) != aws.ToString(entries[i].PartitionKey) {
					t.Fatalf("record %d: got %q/%q, put %q/%q", i, r.Data, aws.ToString(r.PartitionKey), entries[i].Data, aws.ToString(entries[i].PartitionKey))
				}
			}
			// Split the shard, then read the closed parent to its end: the answer with ChildShards
			// must decode as the SDK decodes it (through the fallback).
			if _, err := eng.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String(parent),
				NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
				t.Fatal(err)
			}
			testenv.WaitStreamActive(t, ctx, eng.kc, name)
			next := aws.ToString(want.NextShardIterator)
			for range 20 {
				res, _ := getRecordsBoth(t, ctx, eng.kc, next)
				if res.NextShardIterator == nil {
					if len(res.ChildShards) != 2 {
						t.Fatalf("shard end with %d child shards, want 2", len(res.ChildShards))
					}
					return
				}
				next = aws.ToString(res.NextShardIterator)
			}
			t.Fatal("the split parent never reached its end")
		})
	}
}

// getRecordsBoth calls GetRecords once, decodes the answer with the SDK and with the fast decoder, and
// fails t unless both agree. It returns the SDK's result and the raw answer.
func getRecordsBoth(t *testing.T, ctx context.Context, kc *kinesis.Client, iterator string) (*kinesis.GetRecordsOutput, []byte) {
	t.Helper()
	var c capture
	want, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iterator)}, func(o *kinesis.Options) {
		c.next = o.HTTPClient
		o.HTTPClient = &c
	})
	if err != nil {
		t.Fatal(err)
	}
	want.ResultMetadata = middleware.Metadata{}
	// The same bytes through the fast path, served back by a canned client.
	got, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iterator)}, kinesisjson.FastGetRecords,
		func(o *kinesis.Options) { o.HTTPClient = replay(c.body) })
	if err != nil {
		t.Fatal(err)
	}
	got.ResultMetadata = middleware.Metadata{}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("fast decoding differs from the SDK's on %.300s", c.body)
	}
	return want, c.body
}

type replay []byte

func (r replay) Do(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body:          io.NopCloser(bytes.NewReader(r)),
		ContentLength: int64(len(r)), Request: req}, nil
}
