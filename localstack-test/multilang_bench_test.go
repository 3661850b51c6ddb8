//go:build unix

package localstack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/multilang"
)

// countingCheckpointer accepts every checkpoint (the lease table is not what is measured).
type countingCheckpointer struct{ n atomic.Int64 }

func (c *countingCheckpointer) Checkpoint(context.Context, kcl.Position) error {
	c.n.Add(1)
	return nil
}

// goBenchProcessor is testdata/multilang/bench_consumer.js in Go: it touches every record's data,
// counts the bytes and checkpoints the last record of each batch.
type goBenchProcessor struct{ bytes int }

func (p *goBenchProcessor) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (p *goBenchProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	for _, r := range in.Records {
		p.bytes += len(r.Data)
	}
	return in.Checkpointer.Checkpoint(ctx, in.Records[len(in.Records)-1].Position)
}

func (p *goBenchProcessor) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

// BenchmarkMultilangChild measures records/s through one shard's processor: the Node client aws-kcl in a
// child process behind the MultiLangDaemon protocol (`shardwise multilang`), against the same processor
// in Go called directly (and the Python client amazon_kclpy when SHARDWISE_KCLPY names its source). Each iteration is one batch of 1,000 records of 100 bytes (each checkpointed at
// its last record), as the worker delivers them; Kinesis and the lease table are left out, so the
// difference is the protocol's cost (JSON, base64, pipes, the child's event loop).
//
//	go test -run '^$' -bench MultilangChild -benchtime 2000x ./localstack-test/
func BenchmarkMultilangChild(b *testing.B) {
	const batch, size = 1000, 100
	recs := make([]kcl.Record, batch)
	now := time.Now()
	for i := range recs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte('a' + (i+j)%26)
		}
		recs[i] = kcl.Record{PartitionKey: "pk-" + strconv.Itoa(i), Data: data, ApproximateArrival: now,
			Position: kcl.Position{SequenceNumber: fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", i)}}
	}
	run := func(b *testing.B, p kcl.RecordProcessor) {
		ctx := context.Background()
		if err := p.Initialize(ctx, kcl.InitializeInput{ShardID: "shardId-000000000000", Start: kcl.TrimHorizon}); err != nil {
			b.Fatal(err)
		}
		cp := &countingCheckpointer{}
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if err := p.ProcessRecords(ctx, kcl.ProcessRecordsInput{ShardID: "shardId-000000000000", Records: recs, Checkpointer: cp}); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if cp.n.Load() != int64(b.N) {
			b.Fatalf("%d checkpoints for %d batches", cp.n.Load(), b.N)
		}
		b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "records/s")
		if err := p.Shutdown(ctx, kcl.ShutdownInput{ShardID: "shardId-000000000000", Reason: kcl.LeaseLost}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("go", func(b *testing.B) { run(b, &goBenchProcessor{}) })
	b.Run("node", func(b *testing.B) {
		node, err := exec.LookPath("node")
		if err != nil {
			b.Skip("node not found")
		}
		modules, _ := filepath.Abs("node_modules")
		script, _ := filepath.Abs(filepath.Join("testdata", "multilang", "bench_consumer.js"))
		if _, err := os.Stat(filepath.Join(modules, "aws-kcl")); err != nil {
			b.Skip("aws-kcl not installed: npm ci in localstack-test")
		}
		f, err := multilang.NewProcessorFactory(multilang.ChildConfig{Command: []string{node, script}, Env: []string{"NODE_PATH=" + modules}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, f("shardId-000000000000"))
	})
	b.Run("python", func(b *testing.B) {
		kclpy := os.Getenv("SHARDWISE_KCLPY")
		if kclpy == "" {
			b.Skip("SHARDWISE_KCLPY (a checkout of amazon-kinesis-client-python) is not set")
		}
		python, err := exec.LookPath("python3")
		if err != nil {
			b.Skip("python3 not found")
		}
		script, _ := filepath.Abs(filepath.Join("testdata", "multilang", "bench_processor.py"))
		f, err := multilang.NewProcessorFactory(multilang.ChildConfig{Command: []string{python, script}, Env: []string{"PYTHONPATH=" + kclpy}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, f("shardId-000000000000"))
	})
}
