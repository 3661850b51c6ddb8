// Command shardwise-agent tails log files and sends their lines to Kinesis Data Streams, like the
// AWS Kinesis Agent, from the same agent.json configuration:
//
//	shardwise-agent [-c /etc/aws-kinesis/agent.json] [-L INFO] [-l /var/log/shardwise-agent.log]
//	                [--metrics-addr 127.0.0.1:9100] [--unhealthy-after 5m]
//
// The flags are the Kinesis Agent's: -c or --configuration (default /etc/aws-kinesis/agent.json;
// --config also works), -L or --log-level (TRACE, DEBUG, INFO, WARN or ERROR, any case; TRACE logs
// as DEBUG), -l or --log-file (logs appended to this file instead of stderr). The *.json files of
// the agent.d directory beside the configuration file are read too (their flows are added). AWS
// settings come from the standard SDK chain (AWS_REGION, credentials, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KINESIS, AWS_CA_BUNDLE); "kinesis.endpoint" and "kinesis.region" in agent.json,
// when set, override the endpoint and the region. With no region set anywhere, the region is the
// EC2 instance's (instance metadata, IMDSv2). "awsAccessKeyId" and "awsSecretAccessKey" replace the
// SDK chain's credentials (with a Warn: instance roles are preferred); "assumeRoleARN" (with
// "assumeRoleExternalId", through "sts.endpoint" when set) assumes that role with STS AssumeRole,
// renewing the temporary credentials before they expire. Without "checkpointFile" the offsets go to
// checkpoints.json in systemd's $STATE_DIRECTORY (StateDirectory=shardwise-agent in the unit of
// packaging/shardwise-agent.service), else in $XDG_STATE_HOME/shardwise-agent, else in
// /var/lib/shardwise-agent; the agent checks at start that it can write there and exits with an
// error naming the directory otherwise. The agent runs until SIGTERM or SIGINT, then flushes (at
// most 10s) and writes its checkpoints; a second signal ends it at once. SIGHUP reloads the
// configuration: agent.json and agent.d are read again and, when valid, the agent stops as at
// SIGTERM (flush, checkpoints) and starts again with the new configuration, resuming at the
// checkpoints; an invalid configuration is logged at Error and the old one keeps running. Logs are JSON
// lines on stderr, with a progress line every log.statusReportingPeriodSeconds (30s). The Kinesis
// Agent's CloudWatch metrics are published as it publishes them (cloudwatch.emitMetrics, default
// true; cloudwatch.endpoint or AWS_ENDPOINT_URL_CLOUDWATCH, cloudwatch.namespace,
// cloudwatch.tagInstance, cloudwatch.metricsBufferTimeMillis, cloudwatch.metricsQueueSize; they need
// cloudwatch:PutMetricData). --metrics-addr HOST:PORT serves /metrics (Prometheus text) and /healthz
// (503 once a flow has had records to send for --unhealthy-after, default 5m, delivering nothing).
// Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, hup, stop := withSignals(context.Background())
	err := runReload(ctx, os.Args[1:], os.Stdout, os.Stderr, hup)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "shardwise-agent:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "shardwise-agent:", err)
		os.Exit(1)
	}
}

// withSignals returns a context that ends at the first SIGTERM or SIGINT (after which a second one
// ends the process at once, with the default action: the checkpoint file still holds what was
// delivered) and a channel of SIGHUPs for runReload. stop releases both.
func withSignals(parent context.Context) (ctx context.Context, hup <-chan os.Signal, stop func()) {
	ctx, stopTerm := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stopTerm() // restore the default action for a second signal
	}()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	return ctx, hups, func() {
		signal.Stop(hups)
		stopTerm()
	}
}
