package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/agentmetrics"
)

// Bounds of the shutdown of the visibility pieces, after the agent has stopped.
const (
	publisherCloseTimeout = 5 * time.Second
	serverCloseTimeout    = 2 * time.Second
	instanceIDTimeout     = 2 * time.Second
)

// visibility is what outlives the agents of a run (SIGHUP starts a new one): the CloudWatch
// publisher and the metrics server, which read the running agent's Stats through stats.
type visibility struct {
	log    *slog.Logger
	pub    *agentmetrics.Publisher
	srv    *http.Server
	served chan error

	mu      sync.Mutex
	current statser
	retired agent.Stats // the counters of the agents stopped by reloads, added up
}

type statser interface{ Stats() agent.Stats }

// setAgent makes a the running agent; the previous one, stopped by then, has its counters kept,
// so the counters seen by CloudWatch and Prometheus do not go back at a reload.
func (v *visibility) setAgent(a statser) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.current != nil {
		v.retired = addCounters(v.current.Stats(), v.retired, true)
	}
	v.current = a
}

// stats is the running agent's Stats with the counters of the agents before it added in (a zero
// Stats before the first one).
func (v *visibility) stats() agent.Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.current == nil {
		return agent.Stats{}
	}
	return addCounters(v.current.Stats(), v.retired, false)
}

// addCounters returns s with the counters of old added: the agent's, and those of each flow of s
// that old has too (same file pattern and destination). Old's flows that s lacks are appended
// (counters only) when keep is set, else left out: a flow a reload removed is no longer shown, and
// its counters go on if a later reload brings it back.
func addCounters(s, old agent.Stats, keep bool) agent.Stats {
	s.RecordsRead += old.RecordsRead
	s.RecordsSent += old.RecordsSent
	s.RecordsFailed += old.RecordsFailed
	s.RecordsFiltered += old.RecordsFiltered
	s.RecordsTruncated += old.RecordsTruncated
	s.RecordsRetried += old.RecordsRetried
	s.BytesRead += old.BytesRead
	s.CheckpointsWritten += old.CheckpointsWritten
	flows := make([]agent.FlowStats, len(s.Flows))
	for i, f := range s.Flows {
		for _, o := range old.Flows {
			if o.FilePattern == f.FilePattern && o.Destination == f.Destination && o.Firehose == f.Firehose {
				f.RecordSendAttempts += o.RecordSendAttempts
				f.RecordSendErrors += o.RecordSendErrors
				f.ServiceErrors += o.ServiceErrors
				f.SendCalls += o.SendCalls
				f.RecordsSent += o.RecordsSent
				f.BytesSent += o.BytesSent
				if f.LastDelivery.IsZero() {
					f.LastDelivery = o.LastDelivery
				}
			}
		}
		flows[i] = f
	}
	s.Flows = flows
	for _, o := range old.Flows {
		if !keep {
			break
		}
		found := false
		for _, f := range s.Flows {
			found = found || (o.FilePattern == f.FilePattern && o.Destination == f.Destination && o.Firehose == f.Firehose)
		}
		if !found {
			s.Flows = append(s.Flows, agent.FlowStats{FilePattern: o.FilePattern, Destination: o.Destination, Firehose: o.Firehose,
				RecordSendAttempts: o.RecordSendAttempts, RecordSendErrors: o.RecordSendErrors, ServiceErrors: o.ServiceErrors,
				SendCalls: o.SendCalls, RecordsSent: o.RecordsSent, BytesSent: o.BytesSent, LastDelivery: o.LastDelivery})
		}
	}
	return s
}

// startVisibility starts the CloudWatch publisher when cfg's cloudwatch.emitMetrics allows it (the
// default) and, when addr is set, the HTTP server of /metrics and /healthz. The cloudwatch.* keys
// are read once: a reload keeps the publisher as it is.
func startVisibility(ctx context.Context, cfg agent.Config, awsCfg aws.Config, addr string, unhealthyAfter time.Duration, log *slog.Logger) (*visibility, error) {
	v := &visibility{log: log}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		v.srv = &http.Server{Handler: agentmetrics.Mux(v.stats, unhealthyAfter), ReadHeaderTimeout: 10 * time.Second}
		v.served = make(chan error, 1)
		go func() { v.served <- v.srv.Serve(ln) }()
		log.Info("metrics server listening: /metrics (Prometheus), /healthz", "addr", ln.Addr().String(),
			"unhealthy_after", unhealthyAfter.String())
	}
	if !cfg.MetricsEnabled() {
		log.Info("CloudWatch metrics off (cloudwatch.emitMetrics is false)")
		return v, nil
	}
	client := cloudwatch.NewFromConfig(awsCfg, func(o *cloudwatch.Options) {
		if cfg.CloudWatchEndpoint != "" {
			o.BaseEndpoint = aws.String(withScheme(cfg.CloudWatchEndpoint))
		}
	})
	pc := agentmetrics.PublisherConfig{
		Namespace: cfg.CloudWatchNamespace,
		Interval:  cfg.MetricsBufferTime,
		QueueSize: cfg.MetricsQueueSize,
		Logger:    log,
	}
	if cfg.CloudWatchTagInstance {
		pc.Instance = instanceTag(ctx, log)
	}
	v.pub = agentmetrics.NewPublisher(client, v.stats, pc)
	log.Info("CloudWatch metrics on (needs cloudwatch:PutMetricData)", "namespace", cmp.Or(cfg.CloudWatchNamespace, agent.DefaultCloudWatchNamespace),
		"interval", cmp.Or(cfg.MetricsBufferTime, agent.DefaultMetricsBufferTime).String(), "instance", pc.Instance)
	return v, nil
}

// close sends the last metrics (within publisherCloseTimeout) and stops the metrics server.
func (v *visibility) close() {
	if v.pub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), publisherCloseTimeout)
		if err := v.pub.Close(ctx); err != nil {
			v.log.Warn("last CloudWatch metrics not all sent", "err", err)
		}
		cancel()
	}
	if v.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), serverCloseTimeout)
		if err := v.srv.Shutdown(ctx); err != nil {
			v.srv.Close()
		}
		cancel()
		if err := <-v.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			v.log.Warn("metrics server failed", "err", err)
		}
	}
}

// instanceTag is the Instance dimension of cloudwatch.tagInstance: the EC2 instance ID from the
// instance metadata (IMDSv2), else the host name, as the Kinesis Agent does.
func instanceTag(ctx context.Context, log *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, instanceIDTimeout)
	defer cancel()
	if out, err := imds.New(imds.Options{}).GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"}); err == nil {
		id, err := io.ReadAll(out.Content)
		out.Content.Close()
		if s := strings.TrimSpace(string(id)); err == nil && s != "" {
			return s
		}
	}
	host, err := os.Hostname()
	if err != nil {
		log.Error("cloudwatch.tagInstance: neither the EC2 instance ID nor the host name is known: no Instance dimension", "err", err)
		return ""
	}
	return host
}
