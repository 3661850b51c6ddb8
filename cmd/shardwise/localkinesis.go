package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// defaultLocalKinesisAddr avoids the ports of kinesis-mock and dynalite (their defaults, 4567, and
// 4568-4570 used by localstack-test/engines.sh) and LocalStack's 4566.
const defaultLocalKinesisAddr = "127.0.0.1:4575"

// runLocalKinesis serves a kinesistest server until ctx ends (SIGINT/SIGTERM in main). It prints the
// endpoint URL on stdout, alone on its line, once the server accepts connections.
func runLocalKinesis(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("local-kinesis", stderr)
	addr := fs.String("addr", defaultLocalKinesisAddr, "`host:port` to listen on; port 0 picks a free one")
	allowRemote := fs.Bool("allow-non-loopback", false, "allow a non-loopback --addr (the server has no authentication)")
	limits := fs.Bool("enforce-limits", false, usageEnforce)
	maxReq := fs.Int("max-request-bytes", 5<<20, "PutRecords request size limit under --enforce-limits")
	faultRate := fs.Float64("fault-rate", 0, "fraction `F` of calls (and of PutRecords entries) failing with InternalFailure, 500, 503, slow answers or connection resets")
	faultSeed := fs.Uint64("fault-seed", 0, "random seed for --fault-rate (0: random)")
	faultKinds := fs.String("fault-kinds", "", "comma-separated faults to draw from: entry, 500, 503, slow, reset, and the opt-in kms-throttling, expired-token, hang (default: the first five)")
	faultDelay := fs.Duration("fault-slow-delay", time.Second, "how long a slow fault holds its answer")
	subDur := fs.Duration("subscription-duration", 5*time.Minute, "how long a SubscribeToShard stream lasts")
	iterTTL := fs.Duration("iterator-ttl", 5*time.Minute, "how long a shard iterator stays valid")
	useTLS := fs.Bool("tls", false, "serve HTTPS (h2 and HTTP/1.1) with a fresh self-signed certificate")
	caFile := fs.String("ca-file", "", "with --tls, write the certificate (PEM) to this `file` for AWS_CA_BUNDLE")
	region := fs.String("region", "us-east-1", "region in the ARNs the server makes")
	distribution := fs.String("record-distribution", "", "record distribution `strategy` of ON_DEMAND streams created without one: USER_PARTITION_KEY (default) or AUTO")
	logLevel := fs.String("log-level", "info", usageLogLevel)
	deprecatedBoolAlias(fs, "v", "log-level", "debug", stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%v: %w", err, errCLIUsage)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("local-kinesis takes no arguments, got %q: %w", fs.Args(), errCLIUsage)
	}
	if *caFile != "" && !*useTLS {
		return fmt.Errorf("--ca-file needs --tls: %w", errCLIUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v: %w", err, errCLIUsage)
	}
	opts := []kinesistest.Option{
		kinesistest.Addr(*addr),
		kinesistest.MaxRequestBytes(*maxReq),
		kinesistest.SubscriptionDuration(*subDur),
		kinesistest.IteratorTTL(*iterTTL),
		kinesistest.Region(*region),
		kinesistest.WithLogger(slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))),
	}
	if *distribution != "" {
		opts = append(opts, kinesistest.DefaultRecordDistribution(*distribution))
	}
	if *allowRemote {
		opts = append(opts, kinesistest.AllowNonLoopback())
	}
	if *limits {
		opts = append(opts, kinesistest.EnforceLimits())
	}
	if *faultRate != 0 || *faultKinds != "" {
		kinds, err := parseFaultKinds(*faultKinds)
		if err != nil {
			return fmt.Errorf("--fault-kinds: %v: %w", err, errCLIUsage)
		}
		opts = append(opts, kinesistest.Faults(kinesistest.FaultConfig{Rate: *faultRate, Seed: *faultSeed, Kinds: kinds, SlowDelay: *faultDelay}))
	}
	if *useTLS {
		opts = append(opts, kinesistest.TLS())
	}
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		return err
	}
	if *caFile != "" {
		if err := os.WriteFile(*caFile, srv.CertPEM(), 0o644); err != nil {
			srv.Close()
			return fmt.Errorf("writing --ca-file: %w", err)
		}
	}
	if _, err := fmt.Fprintln(stdout, srv.URL()); err != nil {
		srv.Close()
		return err
	}
	<-ctx.Done()
	return srv.Close()
}

var faultKindNames = map[string]kinesistest.FaultKind{
	"entry": kinesistest.FaultEntryFailure,
	"500":   kinesistest.FaultInternalError,
	"503":   kinesistest.FaultUnavailable,
	"slow":  kinesistest.FaultSlow,
	"reset": kinesistest.FaultReset,
	// Opt-in: never drawn unless named.
	"kms-throttling": kinesistest.FaultKMSThrottling,
	"expired-token":  kinesistest.FaultExpiredToken,
	"hang":           kinesistest.FaultHang,
}

// parseFaultKinds parses "entry,500,reset"; "" means the default kinds (the first five).
func parseFaultKinds(s string) ([]kinesistest.FaultKind, error) {
	if s == "" {
		return nil, nil
	}
	var kinds []kinesistest.FaultKind
	for _, name := range strings.Split(s, ",") {
		k, ok := faultKindNames[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown fault kind %q (want entry, 500, 503, slow, reset, kms-throttling, expired-token or hang)", name)
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}
