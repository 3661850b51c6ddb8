package agent_test

import (
	"log/slog"
	"os"

	"github.com/shardwise/shardwise/agent"
)

func init() {
	if os.Getenv("AGENT_TEST_LOG") != "" {
		debugOpts = append(debugOpts, agent.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
}

var debugOpts []agent.Option
