package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
)

const waitDeadline = 30 * time.Second

// readLines returns the data of every user record in the stream's only shard, in order.
func readLines(t *testing.T, kc *kinesis.Client) []string {
	t.Helper()
	ctx := context.Background()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("logs"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for iter := it.ShardIterator; iter != nil; {
		got, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Records {
			users, err := aggregation.Deaggregate(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				out = append(out, string(u.Data))
			}
		}
		if len(got.Records) == 0 {
			break
		}
		iter = got.NextShardIterator
	}
	return out
}

func countRecords(t *testing.T, kc *kinesis.Client) int { return len(readLines(t, kc)) }

func distinct(lines []string) map[string]bool {
	m := make(map[string]bool, len(lines))
	for _, l := range lines {
		m[l] = true
	}
	return m
}

// checkpointedLines returns how many lines of the log the checkpoint file covers (lines are 12
// bytes).
func checkpointedLines(t *testing.T, cpPath, logPath string) int {
	t.Helper()
	data, err := os.ReadFile(cpPath)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var cf struct {
		Files []struct {
			Path   string
			Offset int64
		}
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("checkpoint file after SIGKILL: %v", err)
	}
	for _, f := range cf.Files {
		if f.Path == logPath {
			return int(f.Offset / int64(len("line-000000\n")))
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitDeadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logsServer starts a kinesistest server (closed when the test ends) with a one-shard stream
// "logs", and returns it with a client for it.
func logsServer(t *testing.T) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	if _, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String("logs"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	return srv, kc
}
