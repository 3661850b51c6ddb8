package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// startLocalKinesis runs the subcommand in-process and returns its URL, a stop function that
// returns run's error, and its stderr.
func startLocalKinesis(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"local-kinesis"}, args...), pw, &stderr)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no URL on stdout: %v (stderr: %s; run: %v)", err, stderr.String(), <-done)
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case err := <-done:
			return err
		case <-timer.C:
			t.Fatal("local-kinesis did not stop within 10s of cancellation")
		}
		return nil
	}
	t.Cleanup(func() { stop() })
	return strings.TrimSpace(line), stop
}

func kinesisAt(url string, hc *http.Client) *kinesis.Client {
	o := kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}
	if hc != nil {
		o.HTTPClient = hc
	}
	return kinesis.New(o)
}

func TestLocalKinesisServesUntilCancelled(t *testing.T) {
	url, stop := startLocalKinesis(t, "--addr", "127.0.0.1:0", "--enforce-limits", "--subscription-duration", "30s")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL = %q", url)
	}
	kc := kinesisAt(url, nil)
	ctx := testCtx(t)
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("lk"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	// --enforce-limits is on: 501 entries are refused as Kinesis refuses them.
	in := &kinesis.PutRecordsInput{StreamName: aws.String("lk")}
	for range 501 {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("v")})
	}
	if _, err := kc.PutRecords(ctx, in); err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Errorf("501 entries with --enforce-limits: %v, want ValidationException", err)
	}
	if err := stop(); err != nil {
		t.Errorf("run after cancellation = %v, want nil", err)
	}
	if _, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{}); err == nil {
		t.Error("server still answering after stop")
	}
}

func TestLocalKinesisFaults(t *testing.T) {
	url, _ := startLocalKinesis(t, "--addr", "127.0.0.1:0", "--fault-rate", "1", "--fault-kinds", "503")
	_, err := kinesisAt(url, nil).ListStreams(testCtx(t), &kinesis.ListStreamsInput{})
	if err == nil || !strings.Contains(err.Error(), "ServiceUnavailable") {
		t.Errorf("ListStreams with --fault-rate 1 --fault-kinds 503: %v, want ServiceUnavailable", err)
	}
}

func TestLocalKinesisTLS(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	url, _ := startLocalKinesis(t, "--addr", "127.0.0.1:0", "--tls", "--ca-file", ca)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("URL = %q", url)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("--ca-file holds no certificate: %q", pem)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	if _, err := kinesisAt(url, hc).ListStreams(testCtx(t), &kinesis.ListStreamsInput{}); err != nil {
		t.Errorf("ListStreams over TLS with the written CA: %v", err)
	}
}

func TestLocalKinesisUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"non-loopback", []string{"--addr", "0.0.0.0:0"}},
		{"bad flag", []string{"--nope"}},
		{"ca-file without tls", []string{"--ca-file", "x.pem"}},
		{"argument", []string{"extra"}},
		{"fault rate", []string{"--fault-rate", "2"}},
		{"fault kind", []string{"--fault-rate", "0.1", "--fault-kinds", "entry,boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"local-kinesis"}, tt.args...), &stdout, &stderr)
			if err == nil {
				t.Fatalf("run(%v) = nil, want an error", tt.args)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing (no server)", stdout.String())
			}
		})
	}
	err := run(context.Background(), []string{"local-kinesis", "--bad"}, io.Discard, io.Discard)
	if !errors.Is(err, errCLIUsage) {
		t.Errorf("bad flag error %v is not a usage error", err)
	}
}
