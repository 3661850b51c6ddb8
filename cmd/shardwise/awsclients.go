package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/bodyguard"
	"github.com/shardwise/shardwise/internal/endpoint"
)

// awsSettings are the --region and --profile flags, the AWS CLI's, of the commands that call AWS.
// Empty fields leave the SDK chain's choice.
type awsSettings struct {
	region, profile string
}

// defineAWSFlags adds --region and --profile to fs.
func defineAWSFlags(fs *flag.FlagSet) *awsSettings {
	var s awsSettings
	fs.StringVar(&s.region, "region", "", usageRegion)
	fs.StringVar(&s.profile, "profile", "", usageProfile)
	return &s
}

// args returns the flags that give a child process the same settings.
func (s awsSettings) args() []string {
	var a []string
	if s.region != "" {
		a = append(a, "--region", s.region)
	}
	if s.profile != "" {
		a = append(a, "--profile", s.profile)
	}
	return a
}

// loadAWSConfig loads the standard SDK configuration chain: AWS_REGION, credentials, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB, AWS_CA_BUNDLE, profiles; s.region and
// s.profile (--region, --profile) take precedence, as in the AWS CLI.
func loadAWSConfig(ctx context.Context, s awsSettings) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if s.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.profile))
	}
	if s.region != "" {
		opts = append(opts, config.WithRegion(s.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region configured: set AWS_REGION or --region (for the local engines: eval \"$(localstack-test/engines.sh env)\")")
	}
	cfg.HTTPClient = tuneHTTPClient(cfg.HTTPClient)
	bodyguard.WrapConfig(&cfg) // the SDK/net/http request-body race that fast local endpoints expose
	if err := checkEndpoint("Kinesis endpoint (AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL)", kinesis.NewFromConfig(cfg).Options().BaseEndpoint); err != nil {
		return aws.Config{}, err
	}
	if err := checkEndpoint("DynamoDB endpoint (AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL)", dynamodb.NewFromConfig(cfg).Options().BaseEndpoint); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// checkEndpoint applies the TLS rule of internal/endpoint to an endpoint a client resolved: plain
// http:// only to loopback hosts, unless SHARDWISE_ALLOW_INSECURE=1.
func checkEndpoint(setting string, ep *string) error {
	return endpoint.Check(setting, aws.ToString(ep), endpoint.AllowInsecure(os.Getenv))
}

// HTTP/2 health checks and connection pool sizes of the CLI's AWS clients.
const (
	// h2PingAfter: a connection that received no frame for this long is pinged, so a connection that
	// died silently (a NAT or load balancer dropping it) is found within h2PingAfter + h2PingTimeout
	// instead of when a call's deadline passes; every call and subscription on it fails fast and is
	// retried on a new connection.
	h2PingAfter   = 15 * time.Second
	h2PingTimeout = 10 * time.Second
	// maxIdleConnsPerHost: one Kinesis endpoint serves every shard's GetRecords (net/http keeps 2
	// idle connections per host by default, so a worker with many shards would keep dialling).
	maxIdleConnsPerHost = 128
)

// tuneHTTPClient returns the SDK's BuildableClient (a new one, or the one the loader made for
// AWS_CA_BUNDLE, keeping its options) with HTTP/2 health checks and the pool size added to its
// transport options. Any other client is returned as it is.
func tuneHTTPClient(hc aws.HTTPClient) aws.HTTPClient {
	switch c := hc.(type) {
	case nil:
		return awshttp.NewBuildableClient().WithTransportOptions(tuneTransport)
	case *awshttp.BuildableClient:
		return c.WithTransportOptions(tuneTransport)
	}
	return hc
}

// tuneTransport sets HTTP/2 ping health checks and the pool size on the SDK's BuildableClient
// transport (which keeps the SDK's own dial and TLS settings).
func tuneTransport(tr *http.Transport) {
	tr.MaxIdleConns = 2 * maxIdleConnsPerHost
	tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
	tr.ForceAttemptHTTP2 = true
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: h2PingAfter, PingTimeout: h2PingTimeout}
}

// newKinesisClient returns a Kinesis client from the standard configuration.
func newKinesisClient(ctx context.Context, s awsSettings) (*kinesis.Client, error) {
	cfg, err := loadAWSConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg), nil
}
