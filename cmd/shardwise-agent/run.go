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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/agentmetrics"
	"github.com/shardwise/shardwise/internal/bodyguard"
	"github.com/shardwise/shardwise/internal/ec2tags"
	"github.com/shardwise/shardwise/internal/endpoint"
	"github.com/shardwise/shardwise/internal/sqliteread"
)

// DefaultConfigFile is where the Kinesis Agent keeps its configuration.
const DefaultConfigFile = "/etc/aws-kinesis/agent.json"

// DefaultStateDir holds the checkpoint file when agent.json has no "checkpointFile" and neither
// STATE_DIRECTORY (systemd) nor XDG_STATE_HOME is set.
const DefaultStateDir = "/var/lib/shardwise-agent"

// errUsage marks usage and configuration errors (exit code 2).
var errUsage = errors.New("usage error")

type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{errUsage, e.err} }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run parses the flags, loads agent.json and the AWS configuration, and runs the agent until ctx
// ends. Extra options (tests) are passed to agent.New.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...agent.Option) error {
	return runReload(ctx, args, stdout, stderr, nil, extra...)
}

// runReload is run, reloading the configuration at each value received from reload (SIGHUP in
// main): the configuration files are read again and checked; when they are valid, the running
// agent is stopped as at SIGTERM (reading stops, what was read is flushed, the checkpoints are
// written) and a new one starts from the new configuration, resuming at the checkpoints. An
// invalid configuration is logged at Error and the agent keeps running with the old one.
func runReload(ctx context.Context, args []string, stdout, stderr io.Writer, reload <-chan os.Signal, extra ...agent.Option) error {
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
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics (Prometheus) and /healthz on this address (host:port); off when empty")
	unhealthyAfter := fs.Duration("unhealthy-after", agentmetrics.DefaultUnhealthyAfter,
		"/healthz answers 503 once a flow has had records to send for this long while delivering nothing")
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
	if *unhealthyAfter <= 0 {
		return usagef("--unhealthy-after %v must be positive", *unhealthyAfter)
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

	build := func() (*agent.Agent, agent.Config, aws.Config, error) {
		cfg, err := agent.LoadConfig(configPath, log)
		if err != nil {
			return nil, cfg, aws.Config{}, err
		}
		if sqliteread.IsSQLite(cfg.CheckpointFile) {
			// The Kinesis Agent's database (its agent.json kept as is): taken over at the first
			// start, never written; Shardwise's own file goes to the state directory.
			if cfg.ImportJavaCheckpoints == "" {
				cfg.ImportJavaCheckpoints = cfg.CheckpointFile
			}
			log.Warn("checkpointFile is the Kinesis Agent's SQLite database: its checkpoints are taken over at the first start; Shardwise keeps its own file",
				"java_checkpoint_file", cfg.CheckpointFile, "checkpoint_file", defaultCheckpointFile())
			cfg.CheckpointFile = ""
		}
		if cfg.CheckpointFile == "" {
			cfg.CheckpointFile = defaultCheckpointFile()
		}
		if err := cfg.Validate(); err != nil {
			return nil, cfg, aws.Config{}, err
		}
		allowInsecure := endpoint.AllowInsecure(os.Getenv)
		if err := normalizeEndpoints(&cfg, allowInsecure); err != nil {
			return nil, cfg, aws.Config{}, err
		}
		awsCfg, baseCfg, err := loadAWSConfigs(ctx, cfg, log)
		if err != nil {
			return nil, cfg, awsCfg, err
		}
		if err := checkSDKEndpoints(awsCfg, baseCfg, cfg, allowInsecure); err != nil {
			return nil, cfg, awsCfg, err
		}
		kc := newKinesisClient(awsCfg, cfg.KinesisEndpoint)
		opts := []agent.Option{agent.WithLogger(log), agent.WithFirehose(newFirehoseClient(awsCfg, cfg.FirehoseEndpoint, cfg.FirehoseRegion)),
			// ADDEC2METADATA's ec2:DescribeTags, made with the instance's own identity (the
			// role of assumeRoleARN may belong to another account), as the Kinesis Agent does.
			agent.WithEC2Tags(ec2tags.New(baseCfg))}
		a, err := agent.New(cfg, kc, append(opts, extra...)...)
		return a, cfg, awsCfg, err
	}
	a, cfg, awsCfg, err := build()
	if err != nil {
		return usageError{err}
	}
	vis, err := startVisibility(ctx, cfg, awsCfg, *metricsAddr, *unhealthyAfter, log)
	if err != nil {
		return usageError{err}
	}
	defer vis.close()
	vis.setAgent(a)
	for {
		runCtx, stopRun := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		var next *agent.Agent
		for next == nil {
			select {
			case err := <-done:
				stopRun()
				return err
			case <-reload:
				n, _, _, err := build()
				if err != nil {
					log.Error("SIGHUP: the new configuration is not valid; the agent keeps running with the old one", "err", err)
					continue
				}
				log.Info("SIGHUP: reloading the configuration: stopping the agent (flush and checkpoints) and starting it again", "config", configPath)
				next = n
			}
		}
		stopRun()
		if err := <-done; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		a = next
		vis.setAgent(a)
	}
}

// defaultCheckpointFile is checkpoints.json in systemd's $STATE_DIRECTORY (StateDirectory= of the
// unit; the first one when it lists several), else in $XDG_STATE_HOME/shardwise-agent, else in
// DefaultStateDir.
func defaultCheckpointFile() string {
	if dirs := os.Getenv("STATE_DIRECTORY"); dirs != "" {
		dir, _, _ := strings.Cut(dirs, ":")
		return filepath.Join(dir, "checkpoints.json")
	}
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "shardwise-agent", "checkpoints.json")
	}
	return filepath.Join(DefaultStateDir, "checkpoints.json")
}

// imdsRegionTimeout bounds the look-up of the region in the EC2 instance metadata, made only
// when nothing else sets the region (off EC2 it fails, after this long at most).
const imdsRegionTimeout = 5 * time.Second

// loadAWSConfig builds the AWS configuration from the standard SDK chain (AWS_REGION,
// credentials, AWS_ENDPOINT_URL_KINESIS, ...) and agent.json's identity and region keys, as the
// Kinesis Agent reads them:
//   - "kinesis.region" sets the region; without it and without a region in the SDK chain, the
//     region comes from the EC2 instance metadata (IMDSv2; AWS_EC2_METADATA_SERVICE_ENDPOINT and
//     AWS_EC2_METADATA_DISABLED apply);
//   - "awsAccessKeyId" and "awsSecretAccessKey" replace the SDK chain's credentials (a Warn says
//     instance roles are preferred);
//   - "assumeRoleARN" (with "assumeRoleExternalId") assumes that role through STS AssumeRole
//     with the credentials above, at "sts.endpoint" when set; the temporary credentials are
//     renewed before they expire.
func loadAWSConfig(ctx context.Context, cfg agent.Config, log *slog.Logger) (aws.Config, error) {
	awsCfg, _, err := loadAWSConfigs(ctx, cfg, log)
	return awsCfg, err
}

// loadAWSConfigs is loadAWSConfig, also returning the configuration before "assumeRoleARN" is
// applied (the SDK chain's or the static keys' identity, the same region): the instance's own
// identity, which ADDEC2METADATA's ec2:DescribeTags uses.
func loadAWSConfigs(ctx context.Context, cfg agent.Config, log *slog.Logger) (aws.Config, aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.KinesisRegion != "" {
		opts = append(opts, config.WithRegion(cfg.KinesisRegion))
	}
	if cfg.AWSAccessKeyID != "" {
		log.Warn("using the static credentials of agent.json (awsAccessKeyId): an instance role (or the AWS SDK chain) is preferred")
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		region, err := imdsRegion(ctx)
		if err != nil {
			return aws.Config{}, aws.Config{}, fmt.Errorf(`no AWS region configured: set "kinesis.region" in agent.json or AWS_REGION (the EC2 instance metadata gave none: %w)`, err)
		}
		awsCfg.Region = region
		log.Info("AWS region taken from the EC2 instance metadata", "region", region)
	}
	bodyguard.WrapConfig(&awsCfg) // the SDK/net/http request-body race workaround
	baseCfg := awsCfg.Copy()
	if cfg.AssumeRoleARN != "" {
		stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(withScheme(cfg.STSEndpoint))
			}
		})
		provider := stscreds.NewAssumeRoleProvider(stsClient, cfg.AssumeRoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "shardwise-agent"
			if cfg.AssumeRoleExternalID != "" {
				o.ExternalID = aws.String(cfg.AssumeRoleExternalID)
			}
		})
		awsCfg.Credentials = aws.NewCredentialsCache(provider)
		log.Info("assuming an IAM role for Kinesis", "role_arn", cfg.AssumeRoleARN, "external_id", cfg.AssumeRoleExternalID != "")
	} else if cfg.STSEndpoint != "" {
		log.Warn(`"sts.endpoint" is used only with "assumeRoleARN": ignored`)
	}
	return awsCfg, baseCfg, nil
}

// imdsRegion asks the EC2 instance metadata service (IMDSv2) for the instance's region.
func imdsRegion(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, imdsRegionTimeout)
	defer cancel()
	out, err := imds.New(imds.Options{}).GetRegion(ctx, nil)
	if err != nil {
		return "", err
	}
	if out.Region == "" {
		return "", errors.New("empty region")
	}
	return out.Region, nil
}

// withScheme adds "https://" to an endpoint given without a scheme, as agent.json's endpoints
// usually are.
func withScheme(endpoint string) string {
	if !strings.Contains(endpoint, "://") {
		return "https://" + endpoint
	}
	return endpoint
}

// newKinesisClient builds the Kinesis client; endpoint, agent.json's "kinesis.endpoint",
// overrides the endpoint when set ("https://" is assumed without a scheme).
func newKinesisClient(awsCfg aws.Config, endpoint string) *kinesis.Client {
	return kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(withScheme(endpoint))
		}
	})
}

// newFirehoseClient builds the Firehose client of deliveryStream flows: endpoint ("firehose.endpoint")
// and region ("firehose.region") override the SDK's when set. It makes no call until a flow sends.
func newFirehoseClient(awsCfg aws.Config, endpoint, region string) *firehose.Client {
	return firehose.NewFromConfig(awsCfg, func(o *firehose.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(withScheme(endpoint))
		}
		if region != "" {
			o.Region = region
		}
	})
}
