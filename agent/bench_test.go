package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// BenchmarkAgentThroughput measures how fast the agent ships an existing log: 200,000 lines of
// 100 bytes from START_OF_FILE into a 4-shard kinesistest stream (no limits, producer rate limit
// off), until every line is acknowledged. The server runs in the same process. "default" is the
// Kinesis Agent's wire format (one line per Kinesis record, PutRecords only); "aggregation" is
// shardwise.aggregation.
//
//	go test -run '^$' -bench AgentThroughput -benchtime 3x ./agent/
func BenchmarkAgentThroughput(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchmarkAgentThroughput(b, false) })
	b.Run("aggregation", func(b *testing.B) { benchmarkAgentThroughput(b, true) })
}

func benchmarkAgentThroughput(b *testing.B, aggregate bool) {
	const lines, lineBytes = 200000, 100
	srv, err := kinesistest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	dir := b.TempDir()
	logPath := filepath.Join(dir, "app.log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range lines {
		fmt.Fprintf(w, "%0*d\n", lineBytes-1, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ctx := context.Background()
	b.SetBytes(lines * lineBytes)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		stream := fmt.Sprintf("bench-%d", i)
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
			b.Fatal(err)
		}
		cfg := agent.Config{
			CheckpointFile: filepath.Join(dir, fmt.Sprintf("cp-%d.json", i)),
			Flows:          []agent.Flow{{FilePattern: logPath, KinesisStream: stream, InitialPosition: agent.StartOfFile, Aggregation: aggregate}},
		}
		a, err := agent.New(cfg, kc, agent.ProducerOptions(kpl.RateLimit(0)))
		if err != nil {
			b.Fatal(err)
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- a.Run(actx) }()
		deadline := time.Now().Add(2 * time.Minute)
		for a.Stats().RecordsSent < lines {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d lines sent after 2m", a.Stats().RecordsSent, lines)
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}
