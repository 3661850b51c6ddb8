package agent_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
)

// The whole life cycle: load agent.json, build the agent on a Kinesis client, run it until
// SIGTERM or SIGINT.
func Example() {
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
