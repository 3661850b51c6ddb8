package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/endpoint"
)

// TestRunRefusesPlainHTTPEndpoints: the agent refuses to start (exit code 2, a message naming the
// setting and SHARDWISE_ALLOW_INSECURE) when agent.json or the SDK chain points a service at
// plain HTTP on another host; nothing is sent there (192.0.2.0/24 is a documentation range).
func TestRunRefusesPlainHTTPEndpoints(t *testing.T) {
	dir := t.TempDir()
	writeConfig := func(name, extra string) string {
		p := filepath.Join(dir, name)
		doc := `{"checkpointFile":"` + filepath.Join(dir, name+".cp") + `","cloudwatch.emitMetrics":false,` + extra +
			`"flows":[{"filePattern":"` + filepath.Join(dir, "*.log") + `","kinesisStream":"s"}]}`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, config string
		env          map[string]string
		want         string
	}{
		{"kinesis.endpoint", writeConfig("k.json", `"kinesis.endpoint":"http://192.0.2.1:4568",`), nil, "kinesis.endpoint"},
		{"sts.endpoint", writeConfig("s.json", `"assumeRoleARN":"arn:aws:iam::123456789012:role/r","sts.endpoint":"http://sts.example",`), nil, "sts.endpoint"},
		{"cloudwatch.endpoint", writeConfig("c.json", `"cloudwatch.emitMetrics":true,"cloudwatch.endpoint":"http://192.0.2.2",`), nil, "cloudwatch.endpoint"},
		{"AWS_ENDPOINT_URL_KINESIS", writeConfig("e.json", ""), map[string]string{"AWS_ENDPOINT_URL_KINESIS": "http://192.0.2.3:4568"}, "AWS_ENDPOINT_URL_KINESIS"},
		{"AWS_ENDPOINT_URL", writeConfig("g.json", ""), map[string]string{"AWS_ENDPOINT_URL": "http://192.0.2.4:4566"}, "AWS_ENDPOINT_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv(endpoint.AllowInsecureEnv, "")
			// The integration environment (make test) points the services at the local engines:
			// a service-specific variable would win over the one a case sets.
			for _, svc := range []string{"", "_KINESIS", "_FIREHOSE", "_CLOUDWATCH", "_STS", "_EC2"} {
				t.Setenv("AWS_ENDPOINT_URL"+svc, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// Bounded: an agent that wrongly starts would otherwise run until the test binary's timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"-c", tt.config}, &bytes.Buffer{}, &bytes.Buffer{})
			if !errors.Is(err, endpoint.ErrInsecure) || !errors.Is(err, errUsage) {
				t.Fatalf("run = %v, want a usage error wrapping endpoint.ErrInsecure", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), endpoint.AllowInsecureEnv) {
				t.Errorf("error %q does not name %s and %s", err, tt.want, endpoint.AllowInsecureEnv)
			}
		})
	}
}

// TestEndpointRules: bare hosts in agent.json become https://, loopback http:// passes, and
// SHARDWISE_ALLOW_INSECURE lets another host's http:// through.
func TestEndpointRules(t *testing.T) {
	cfg := agent.Config{KinesisEndpoint: "kinesis.us-east-1.amazonaws.com", FirehoseEndpoint: "http://127.0.0.1:4573",
		CloudWatchEndpoint: "https://monitoring.example", STSEndpoint: ""}
	if err := normalizeEndpoints(&cfg, false); err != nil {
		t.Fatal(err)
	}
	if cfg.KinesisEndpoint != "https://kinesis.us-east-1.amazonaws.com" || cfg.FirehoseEndpoint != "http://127.0.0.1:4573" ||
		cfg.CloudWatchEndpoint != "https://monitoring.example" || cfg.STSEndpoint != "" {
		t.Fatalf("normalized: %+v", cfg)
	}
	insecure := agent.Config{KinesisEndpoint: "http://10.1.2.3:4568"}
	if err := normalizeEndpoints(&insecure, false); !errors.Is(err, endpoint.ErrInsecure) {
		t.Fatalf("normalizeEndpoints(http remote) = %v, want ErrInsecure", err)
	}
	if err := normalizeEndpoints(&insecure, true); err != nil {
		t.Fatalf("normalizeEndpoints(http remote, opted in) = %v", err)
	}
	awsCfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://10.1.2.3:4566")}
	off := false
	plain := agent.Config{EmitMetrics: &off}
	if err := checkSDKEndpoints(awsCfg, awsCfg, plain, false); !errors.Is(err, endpoint.ErrInsecure) {
		t.Fatalf("checkSDKEndpoints(AWS_ENDPOINT_URL http remote) = %v, want ErrInsecure", err)
	}
	if err := checkSDKEndpoints(awsCfg, awsCfg, plain, true); err != nil {
		t.Fatalf("checkSDKEndpoints opted in = %v", err)
	}
}
