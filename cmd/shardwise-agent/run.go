package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/bodyguard"
)

// errUsage marks usage and configuration errors (exit code 2).
var errUsage = errors.New("usage error")

type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{errUsage, e.err} }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run parses the flags, loads agent.json and the AWS configuration, and runs the agent until ctx
// ends. Extra options (tests) are passed to agent.New.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...agent.Option) error {
	fs := flag.NewFlagSet("shardwise-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent.json file (required)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *configPath == "" {
		fs.Usage()
		return usagef("--config is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := agent.LoadConfig(*configPath, log)
	if err != nil {
		return usageError{err}
	}
	if cfg.CheckpointFile == "" {
		cfg.CheckpointFile = defaultCheckpointFile()
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	kc, err := newKinesisClient(ctx, cfg.KinesisEndpoint)
	if err != nil {
		return usageError{err}
	}
	a, err := agent.New(cfg, kc, append([]agent.Option{agent.WithLogger(log)}, extra...)...)
	if err != nil {
		return usageError{err}
	}
	return a.Run(ctx)
}

// defaultCheckpointFile is $XDG_STATE_HOME/shardwise-agent/checkpoints.json, or the agent
// package's default in the working directory.
func defaultCheckpointFile() string {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "shardwise-agent", "checkpoints.json")
	}
	return agent.DefaultCheckpointFile
}

// newKinesisClient builds a client from the standard SDK chain (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_KINESIS, ...); endpoint, agent.json's "kinesis.endpoint", overrides the
// endpoint when set ("https://" is assumed without a scheme).
func newKinesisClient(ctx context.Context, endpoint string) (*kinesis.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region configured: set AWS_REGION")
	}
	bodyguard.WrapConfig(&cfg) // the SDK/net/http request-body race workaround
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			if !strings.Contains(endpoint, "://") {
				endpoint = "https://" + endpoint
			}
			o.BaseEndpoint = &endpoint
		}
	}), nil
}
