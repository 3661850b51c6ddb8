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

// DefaultConfigFile is where the Kinesis Agent keeps its configuration.
const DefaultConfigFile = "/etc/aws-kinesis/agent.json"

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
	// The Kinesis Agent's flags (-c/--configuration, -L/--log-level, -l/--log-file), so its
	// service scripts work unchanged; --config is Shardwise's earlier spelling.
	configPath := DefaultConfigFile
	for _, name := range []string{"c", "configuration", "config"} {
		fs.StringVar(&configPath, name, DefaultConfigFile, "agent.json file (agent.d/*.json beside it are read too)")
	}
	logLevel := "info"
	for _, name := range []string{"L", "log-level"} {
		fs.StringVar(&logLevel, name, "info", "TRACE, DEBUG, INFO, WARN or ERROR (any case)")
	}
	var logFile string
	for _, name := range []string{"l", "log-file"} {
		fs.StringVar(&logFile, name, "", "append the logs to this file instead of stderr")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if configPath == "" {
		fs.Usage()
		return usagef("--configuration is empty")
	}
	var level slog.Level
	if strings.EqualFold(logLevel, "trace") {
		logLevel = "debug"
	}
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logOut := stderr
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return usagef("--log-file: %v", err)
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))

	cfg, err := agent.LoadConfig(configPath, log)
	if err != nil {
		return usageError{err}
	}
	if cfg.CheckpointFile == "" {
		cfg.CheckpointFile = defaultCheckpointFile()
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	kc, err := newKinesisClient(ctx, cfg.KinesisEndpoint, cfg.KinesisRegion)
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
// endpoint when set ("https://" is assumed without a scheme), and region, agent.json's
// "kinesis.region", the region.
func newKinesisClient(ctx context.Context, endpoint, region string) (*kinesis.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New(`no AWS region configured: set "kinesis.region" in agent.json or AWS_REGION`)
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
