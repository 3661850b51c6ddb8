package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// The CLI's AWS clients ping idle HTTP/2 connections (a connection that died silently fails its calls
// within seconds instead of at their deadline) and keep a pool sized for many shards, on the SDK's
// BuildableClient.
func TestTransportHealthChecksAndPool(t *testing.T) {
	c := awshttp.NewBuildableClient().WithTransportOptions(tuneTransport)
	var tr *http.Transport = c.GetTransport()
	if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout != h2PingAfter || tr.HTTP2.PingTimeout != h2PingTimeout {
		t.Errorf("HTTP2 config %+v, want ping health checks", tr.HTTP2)
	}
	if tr.MaxIdleConnsPerHost != maxIdleConnsPerHost || !tr.ForceAttemptHTTP2 {
		t.Errorf("MaxIdleConnsPerHost %d, ForceAttemptHTTP2 %v", tr.MaxIdleConnsPerHost, tr.ForceAttemptHTTP2)
	}
}

// `shardwise tail` accepts the stream's ARN (cross-account reads) and names the stream by StreamARN.
func TestTailByStreamARN(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "t-arn", "--shards", "2")
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("t-arn")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("t-arn"),
			PartitionKey: aws.String("p"), Data: fmt.Appendf(nil, "line %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	n, err := tailStream(ctx, kc, aws.ToString(sum.StreamDescriptionSummary.StreamARN), tailConfig{from: "trim-horizon",
		idleTimeout: time.Second, format: "raw", pollInterval: minPollInterval}, &out)
	if err != nil || n != 3 {
		t.Fatalf("tail by ARN = %d, %v; want 3 records", n, err)
	}
}

// tuneHTTPClient adds the settings to the SDK's BuildableClient, keeping the loader's own transport
// options (AWS_CA_BUNDLE's root CAs) when it made one.
func TestTuneHTTPClientKeepsBuildableOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   aws.HTTPClient
	}{
		{"none", nil},
		{"loader's", awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.MaxConnsPerHost = 7 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc, ok := tuneHTTPClient(tc.in).(*awshttp.BuildableClient)
			if !ok {
				t.Fatalf("tuneHTTPClient = %T, want the SDK's BuildableClient", bc)
			}
			tr := bc.GetTransport()
			if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout != h2PingAfter || tr.MaxIdleConnsPerHost != maxIdleConnsPerHost {
				t.Errorf("transport not tuned: HTTP2 %+v, MaxIdleConnsPerHost %d", tr.HTTP2, tr.MaxIdleConnsPerHost)
			}
			if tc.in != nil && tr.MaxConnsPerHost != 7 {
				t.Errorf("the loader's transport option was lost")
			}
		})
	}
}

// TestRegionAndProfileFlags: --region and --profile (the AWS CLI's) win over AWS_REGION and
// AWS_PROFILE (the profile's region, like any config file setting, below AWS_REGION), and a command
// hands them to the client it makes.
func TestRegionAndProfileFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile p1]\nregion = ap-south-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, tc := range []struct {
		s    awsSettings
		want string
	}{
		{awsSettings{}, "us-east-1"},
		{awsSettings{region: "eu-west-3"}, "eu-west-3"},
		{awsSettings{profile: "p1"}, "us-east-1"}, // AWS_REGION over the profile's, as in the AWS CLI
		{awsSettings{profile: "p1", region: "eu-west-3"}, "eu-west-3"},
	} {
		cfg, err := loadAWSConfig(context.Background(), tc.s)
		if err != nil || cfg.Region != tc.want {
			t.Errorf("loadAWSConfig(%+v) = region %q, %v; want %q", tc.s, cfg.Region, err, tc.want)
		}
	}
	t.Setenv("AWS_REGION", "")
	if cfg, err := loadAWSConfig(context.Background(), awsSettings{profile: "p1"}); err != nil || cfg.Region != "ap-south-1" {
		t.Errorf("--profile p1 without AWS_REGION: region %q, %v; want the profile's ap-south-1", cfg.Region, err)
	}
	if _, err := loadAWSConfig(context.Background(), awsSettings{profile: "nosuch"}); err == nil {
		t.Error("an unknown --profile was accepted")
	}

	// stream parses them before it connects.
	kc := newTestKinesis(t)
	var settings awsSettings
	err := streamRun(testCtx(t), &settings, func(context.Context) (streamAPI, error) {
		if settings.region != "eu-west-3" || settings.profile != "p1" {
			t.Errorf("stream connects with %+v, want --region and --profile", settings)
		}
		return kc, nil
	}, []string{"create", "rp", "--shards", "1", "--region", "eu-west-3", "--profile", "p1"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := (awsSettings{region: "r", profile: "p"}).args(); !slices.Equal(got, []string{"--region", "r", "--profile", "p"}) {
		t.Errorf("args() = %q", got)
	}
}
