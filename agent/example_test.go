package agent_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// The whole life cycle against AWS: load agent.json, build the agent on a Kinesis client, run it
// until SIGTERM or SIGINT. Compile-only.
func Example_aws() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := agent.LoadConfig("/etc/aws-kinesis/agent.json", logger)
	if err != nil {
		logger.Error("bad configuration", "err", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		logger.Error("AWS configuration", "err", err)
		return
	}
	a, err := agent.New(cfg, kinesis.NewFromConfig(awsCfg), agent.WithLogger(logger))
	if err != nil {
		logger.Error("bad configuration", "err", err)
		return
	}
	if err := a.Run(ctx); err != nil { // returns after ctx ends, a bounded flush and a final checkpoint
		logger.Error("agent failed", "err", err)
	}
}

// delivered is a hook that closes done once n records were delivered.
type delivered struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (d *delivered) OnFlowDelivered(agent.FlowDeliveredEvent) {
	if d.n.Add(1) == d.want {
		close(d.done)
	}
}

// The agent tails a log file into an in-process Kinesis (kinesistest): one Kinesis record per
// line, the file's offset checkpointed once delivered. A hook says when the lines are delivered.
func Example() {
	dir, err := os.MkdirTemp("", "agent-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	logFile := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logFile, []byte("started\nlistening on :8080\nGET /health 200\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	srv, err := kinesistest.NewServer(kinesistest.Stream("logs", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()

	cfg := agent.Config{
		CheckpointFile: filepath.Join(dir, "checkpoints.json"),
		Flows: []agent.Flow{{
			FilePattern:     filepath.Join(dir, "*.log"),
			KinesisStream:   "logs",
			InitialPosition: agent.StartOfFile, // the default, END_OF_FILE, skips what the file holds
		}},
	}
	hook := &delivered{want: 3, done: make(chan struct{})}
	a, err := agent.New(cfg, kc, agent.WithHooks(hook))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	<-hook.done
	cancel() // Run flushes, writes the checkpoint file and returns
	if err := <-ran; err != nil {
		log.Fatal(err)
	}

	it, err := kc.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{StreamName: aws.String("logs"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		log.Fatal(err)
	}
	out, err := kc.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range out.Records {
		fmt.Printf("%q\n", r.Data)
	}
	fmt.Println("sent:", a.Stats().RecordsSent)
	// Output:
	// "started\n"
	// "listening on :8080\n"
	// "GET /health 200\n"
	// sent: 3
}
