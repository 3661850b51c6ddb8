package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/shardwise/shardwise/internal/fanout"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/multilang"
)

// runMultilang is `shardwise multilang [-p|--properties|--properties-file] FILE [--print-config]`: the
// KCL MultiLangDaemon without a JVM. It reads the Java daemon's properties file, runs a kcl worker and
// one child process per leased shard speaking the MultiLangDaemon protocol.
func runMultilang(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("multilang", stderr)
	var file, logConfig, logLevel string
	fs.StringVar(&file, "p", "", "properties file (the Java MultiLangDaemon's format)")
	fs.StringVar(&file, "properties", "", "same as -p")
	fs.StringVar(&file, "properties-file", "", "same as -p")
	fs.StringVar(&logConfig, "l", "", "the Java daemon's logback configuration: accepted and ignored")
	fs.StringVar(&logConfig, "log-configuration", "", "same as -l")
	fs.StringVar(&logLevel, "log-level", "info", usageLogLevel)
	printConfig := fs.Bool("print-config", false, "print every resolved setting and warning, then exit")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if file == "" && len(pos) == 1 {
		file, pos = pos[0], nil
	}
	if file == "" {
		return usageError("multilang", "needs a properties FILE (or -p FILE)")
	}
	if len(pos) != 0 {
		return usageError("multilang", "takes one properties FILE, got %q as well", pos)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %w", errCLIUsage, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	props, err := multilang.Load(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	cfg, warns, err := multilang.FromProperties(props)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if *printConfig {
		return printMultilangConfig(stdout, file, cfg, warns)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, w := range warns {
		log.Warn("properties", "key", w.Key, "warning", w.Message)
	}
	if logConfig != "" {
		log.Warn("--log-configuration is ignored: logs are JSON on stderr (--log-level)", "file", logConfig)
	}
	return multilangDaemon(ctx, cfg, log)
}

// printMultilangConfig writes the resolved settings and the warnings.
func printMultilangConfig(w io.Writer, file string, cfg multilang.Config, warns []multilang.Warning) error {
	fmt.Fprintf(w, "# shardwise multilang: resolved configuration of %s\n", file)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tSHARDWISE")
	for _, s := range cfg.Settings {
		v := s.Value
		if v == "" {
			v = "-"
		}
		m := s.Maps
		if m == "" {
			m = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, v, s.Source, m)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "# %d warnings\n", len(warns))
	for _, x := range warns {
		fmt.Fprintf(w, "WARN %s\n", x)
	}
	return nil
}

// multilangDaemon runs the daemon until ctx ends (SIGTERM/SIGINT: graceful shutdown bounded by
// shutdownGraceMillis) or, under shardwise.onChildFailure = exit, a child fails.
func multilangDaemon(ctx context.Context, cfg multilang.Config, log *slog.Logger) error {
	kc, db, err := multilangClients(ctx, cfg)
	if err != nil {
		return err
	}
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID = randomUUID()
	}
	log = log.With("worker_id", workerID)
	m, err := lease.NewManager(db, cfg.TableName, workerID, lease.Failover(cfg.Failover), lease.WithLogger(log))
	if err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		return err
	}

	// The worker runs on a context signals do not cancel: a signal asks for a graceful Shutdown; the end
	// of the grace period, or a fatal child failure, stops it hard.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	var fatalOnce sync.Once
	fatal := make(chan error, 1)
	factory, err := multilang.NewProcessorFactory(multilang.ChildConfig{
		Command:                    cfg.Command,
		Env:                        []string{"KCL_APPLICATION_NAME=" + cfg.ApplicationName, "KCL_WORKER_ID=" + workerID},
		Timeout:                    cfg.Timeout,
		OnChildFailure:             cfg.OnChildFailure,
		OnFatal:                    func(err error) { fatalOnce.Do(func() { fatal <- err }) },
		ShardEndRequiresCheckpoint: cfg.ShardEndRequiresCheckpoint,
		Logger:                     log,
	})
	if err != nil {
		return err
	}
	opts := []kcl.Option{kcl.StartAt(cfg.InitialPosition), kcl.PollInterval(cfg.PollInterval),
		kcl.MaxRecordsPerPoll(cfg.MaxRecords), kcl.ShardSyncInterval(cfg.ShardSyncInterval),
		kcl.ParentPollInterval(cfg.ParentPollInterval), kcl.RetryBackoff(cfg.TaskBackoff), kcl.WithLogger(log)}
	if cfg.MaxLeasesForWorker > 0 {
		opts = append(opts, kcl.MaxLeasesForWorker(cfg.MaxLeasesForWorker))
	}
	if cfg.MaxLeasesToSteal > 0 {
		opts = append(opts, kcl.MaxLeasesToStealAtOnce(cfg.MaxLeasesToSteal))
	}
	if cfg.FanOut {
		if cfg.ConsumerARN != "" {
			opts = append(opts, kcl.EnhancedFanOutARN(cfg.ConsumerARN))
		} else {
			opts = append(opts, kcl.EnhancedFanOut(cfg.ConsumerName))
		}
	}
	if cfg.CallProcessRecordsEvenForEmptyRecordList {
		opts = append(opts, kcl.DeliverEmptyBatches())
	}
	if !cfg.CleanupLeasesUponShardCompletion {
		opts = append(opts, kcl.KeepFinishedLeases())
	}
	worker, err := kcl.NewWorker(kc, m, cfg.Stream, factory, opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.Run(hard) }()
	log.Info("multilang daemon started", "application", cfg.ApplicationName, "stream", cfg.Stream,
		"command", strings.Join(cfg.Command, " "), "fan_out", cfg.FanOut)

	var runErr, fatalErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		grace, cancel := context.WithTimeout(hard, cfg.ShutdownGrace)
		if err := worker.Shutdown(grace); err != nil {
			log.Warn("graceful shutdown did not finish within shutdownGraceMillis; stopping hard", "err", err)
			stopHard()
		}
		cancel()
		runErr = <-done
	case fatalErr = <-fatal:
		log.Error("a child failed and shardwise.onChildFailure is exit: stopping the daemon", "err", fatalErr)
		stopHard()
		runErr = <-done // Run's end after the hard stop; fatalErr, checked first, is the cause reported
	}
	if fatalErr != nil {
		return fatalErr
	}
	if errors.Is(runErr, kcl.ErrWorkerClosed) || errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

// multilangClients builds the Kinesis and DynamoDB clients from the properties: region, endpoints,
// credential providers and the processing language in the user agent; everything else from the SDK chain.
func multilangClients(ctx context.Context, c multilang.Config) (*kinesis.Client, *dynamodb.Client, error) {
	var lopts []func(*config.LoadOptions) error
	if c.Region != "" {
		lopts = append(lopts, config.WithRegion(c.Region))
	}
	if c.ProcessingLanguage != "" {
		lopts = append(lopts, config.WithAppID(appID(c.ProcessingLanguage)))
	}
	base, err := config.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if base.Region == "" {
		return nil, nil, errors.New("no region: set regionName in the properties file or AWS_REGION")
	}
	base.HTTPClient = tuneHTTPClient(base.HTTPClient)
	kcreds, err := credentialChain(ctx, base, c.Credentials)
	if err != nil {
		return nil, nil, err
	}
	dcreds, err := credentialChain(ctx, base, c.CredentialsDynamoDB)
	if err != nil {
		return nil, nil, err
	}
	kc := kinesis.NewFromConfig(base, func(o *kinesis.Options) {
		if kcreds != nil {
			o.Credentials = kcreds
		}
		if c.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KinesisEndpoint)
		}
	})
	if c.FanOut && strings.HasPrefix(strings.ToLower(aws.ToString(kc.Options().BaseEndpoint)), "http://") {
		// SubscribeToShard needs HTTP/2: h2c for plain-HTTP local endpoints (as tail --efo).
		kc = kinesis.New(kc.Options(), func(o *kinesis.Options) { o.HTTPClient = fanout.UnencryptedHTTP2Client() })
	}
	db := dynamodb.NewFromConfig(base, func(o *dynamodb.Options) {
		if dcreds != nil {
			o.Credentials = dcreds
		}
		if c.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoDBEndpoint)
		}
	})
	// kinesisEndpoint and dynamoDBEndpoint, else the SDK chain's: TLS unless loopback or opted in.
	if err := checkEndpoint("Kinesis endpoint (kinesisEndpoint, AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL)", kc.Options().BaseEndpoint); err != nil {
		return nil, nil, err
	}
	if err := checkEndpoint("DynamoDB endpoint (dynamoDBEndpoint, AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL)", db.Options().BaseEndpoint); err != nil {
		return nil, nil, err
	}
	return kc, db, nil
}

// appID keeps the characters the SDK's app ID allows (it goes into the User-Agent), at most 50.
func appID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || r == '/' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() > 50 {
		return b.String()[:50]
	}
	return b.String()
}

// credentialChain maps the properties' credential providers onto the SDK's; nil keeps the default chain.
// Several providers form a chain: the first that returns credentials wins (AWSCredentialsProviderChain).
func credentialChain(ctx context.Context, base aws.Config, ps []multilang.CredentialProvider) (aws.CredentialsProvider, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	var chain []aws.CredentialsProvider
	for _, p := range ps {
		cp, err := credentialProvider(ctx, base, p)
		if err != nil {
			return nil, fmt.Errorf("credential provider %s: %w", p.Name, err)
		}
		chain = append(chain, cp)
	}
	if len(chain) == 1 {
		return chain[0], nil
	}
	return aws.NewCredentialsCache(chainProvider(chain)), nil
}

type chainProvider []aws.CredentialsProvider

func (c chainProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	var errs []error
	for _, p := range c {
		creds, err := p.Retrieve(ctx)
		if err == nil {
			return creds, nil
		}
		errs = append(errs, err)
	}
	return aws.Credentials{}, fmt.Errorf("no credential provider of the chain returned credentials: %w", errors.Join(errs...))
}

func credentialProvider(ctx context.Context, base aws.Config, p multilang.CredentialProvider) (aws.CredentialsProvider, error) {
	switch p.Kind() {
	case "default":
		return base.Credentials, nil
	case "env":
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
			if id == "" || secret == "" {
				return aws.Credentials{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "EnvironmentVariableCredentialsProvider"}, nil
		}), nil
	case "profile":
		var opts []func(*config.LoadOptions) error
		if len(p.Args) > 0 && p.Args[0] != "" {
			opts = append(opts, config.WithSharedConfigProfile(p.Args[0]))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, err
		}
		return cfg.Credentials, nil
	case "imds":
		return aws.NewCredentialsCache(ec2rolecreds.New()), nil
	case "container":
		url := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		if url == "" {
			rel := os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
			if rel == "" {
				return nil, errors.New("neither AWS_CONTAINER_CREDENTIALS_FULL_URI nor AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set")
			}
			url = "http://169.254.170.2" + rel
		}
		return aws.NewCredentialsCache(endpointcreds.New(url, func(o *endpointcreds.Options) {
			o.AuthorizationToken = os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		})), nil
	case "webidentity":
		role, token := os.Getenv("AWS_ROLE_ARN"), os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
		if role == "" || token == "" {
			return nil, errors.New("AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE must be set")
		}
		return aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(base), role,
			stscreds.IdentityTokenFile(token), func(o *stscreds.WebIdentityRoleOptions) {
				o.RoleSessionName = os.Getenv("AWS_ROLE_SESSION_NAME")
			})), nil
	case "assumerole":
		if len(p.Args) < 1 || p.Args[0] == "" {
			return nil, errors.New("needs a role ARN: StsAssumeRoleCredentialsProvider|<roleArn>|<sessionName>")
		}
		session := "shardwise-multilang"
		if len(p.Args) > 1 && p.Args[1] != "" {
			session = p.Args[1]
		}
		stsURL, _, _ := strings.Cut(p.Nested["endpoint"], "^")
		if err := checkEndpoint("StsAssumeRoleCredentialsProvider endpoint", &stsURL); err != nil {
			return nil, err
		}
		stsClient := sts.NewFromConfig(base, func(o *sts.Options) {
			if r := p.Nested["endpointRegion"]; r != "" {
				o.Region = r
			}
			if ep := p.Nested["endpoint"]; ep != "" {
				// endpoint=url^region (NestedPropertyKey.ENDPOINT_REGION form) or a bare URL.
				url, region, _ := strings.Cut(ep, "^")
				o.BaseEndpoint = aws.String(url)
				if region != "" {
					o.Region = region
				}
			}
		})
		return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, p.Args[0], func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if id := p.Nested["externalId"]; id != "" {
				o.ExternalID = aws.String(id)
			}
		})), nil
	case "anonymous":
		return aws.AnonymousCredentials{}, nil
	}
	return nil, fmt.Errorf("unsupported provider %q", p.Name)
}

// randomUUID returns a random (version 4) UUID, the Java daemon's default worker ID.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
