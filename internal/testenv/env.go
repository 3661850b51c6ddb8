package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/bodyguard"
)

// HowTo is appended to skip messages: how to provide the engines.
const HowTo = "run `make test`, or start the local engines with `localstack-test/engines.sh start` and " +
	"`eval $(localstack-test/engines.sh env)` (or point AWS_ENDPOINT_URL_KINESIS/_DYNAMODB at a LocalStack " +
	"on http://localhost:4566)"

// Environment variables read here besides the SDK's own.
const (
	// EnvKinesisTLSEndpoint is the HTTPS (HTTP/2) Kinesis endpoint used by fan-out tests. engines.sh sets it
	// to kinesis-mock's TLS port; against LocalStack set it to https://localhost:4566.
	EnvKinesisTLSEndpoint = "SHARDWISE_KINESIS_TLS_ENDPOINT"
)

// Endpoint returns the endpoint URL the SDK would use for service ("KINESIS" or "DYNAMODB"): the
// service-specific variable, else AWS_ENDPOINT_URL. It skips the test when neither is set and fails it when
// the endpoint is not a loopback URL.
func Endpoint(t testing.TB, service string) string {
	t.Helper()
	service = strings.ToUpper(service)
	name := "AWS_ENDPOINT_URL_" + service
	v := os.Getenv(name)
	if v == "" {
		name = "AWS_ENDPOINT_URL"
		v = os.Getenv(name)
	}
	if v == "" {
		t.Skipf("no %s endpoint configured (AWS_ENDPOINT_URL_%s is unset): %s", strings.ToLower(service), service, HowTo)
	}
	if err := CheckLoopbackURL(v); err != nil {
		t.Fatalf("refusing %s=%q: %v (integration tests only ever target local engines)", name, v, err)
	}
	return v
}

// CheckLoopbackURL reports an error unless raw is an http or https URL whose host is localhost or a
// loopback IP address (127.0.0.0/8, ::1).
func CheckLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad endpoint URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("endpoint scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("endpoint URL carries user information")
	}
	if !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("endpoint host %q is not loopback (127.0.0.0/8, ::1, localhost)", u.Hostname())
	}
	return nil
}

// IsLoopbackHost reports whether host is "localhost" or a loopback IP literal.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackDial dials like net.Dialer but refuses any address that does not resolve to loopback IPs only,
// so a client built here cannot reach another host even through a redirect or a resolver surprise.
func loopbackDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if !ip.IP.IsLoopback() {
				return nil, fmt.Errorf("testenv: refusing to dial %s: %s is not a loopback address", addr, ip.IP)
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("testenv: %s resolves to no address", host)
		}
		// "localhost" may resolve to ::1 first while the engine listens on 127.0.0.1 only: try each.
		var lastErr error
		for _, ip := range ips {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.IP.String(), port))
			if err == nil {
				return conn, nil
			}
			lastErr = err
		}
		return nil, lastErr
	}
}

// loadConfig loads the standard SDK configuration. Region defaults to us-east-1 and, when the environment
// names no credentials at all, dummy static credentials are used (local engines accept any), so a
// misconfigured machine never waits on instance-metadata lookups. Service clients set their own HTTP
// client in their options (config.WithHTTPClient would reject a plain *http.Client when AWS_CA_BUNDLE is set).
func loadConfig(t testing.TB) aws.Config {
	t.Helper()
	var opts []func(*config.LoadOptions) error
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("shardwise-local", "shardwise-local", "")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		t.Fatalf("loading AWS config: %v", err)
	}
	return cfg
}

// http11Client is the SDK's buildable client restricted to HTTP/1.1 and loopback addresses, with the
// request-body workaround of internal/bodyguard.
func http11Client() bodyguard.Doer {
	return bodyguard.Client(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
		tr.DialContext = loopbackDial(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
		tr.Proxy = nil // never send local-engine traffic through a proxy from the environment
	}))
}

// Kinesis returns a Kinesis client for the configured local endpoint (HTTP/1.1). It skips the test when no
// endpoint is configured.
func Kinesis(t testing.TB) *kinesis.Client {
	t.Helper()
	ep := Endpoint(t, "KINESIS")
	cfg := loadConfig(t)
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(ep) // the same value the SDK resolves; pinned after the loopback check
		o.HTTPClient = http11Client()
	})
}

// DynamoDB returns a DynamoDB client for the configured local endpoint. It skips the test when no endpoint
// is configured.
func DynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := Endpoint(t, "DYNAMODB")
	cfg := loadConfig(t)
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.HTTPClient = http11Client()
	})
}

// Context returns a context that ends after d or when the test ends, whichever comes first.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// cleanupContext is for t.Cleanup work: the test's own context is already canceled by then.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
