package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestStreamCreateHangingEndpoint: an endpoint that never answers CreateStream (a hung call) makes
// `stream create` fail after --call-timeout with a *CallTimeoutError naming the operation, instead of
// waiting forever; a call that answers in time is not affected.
func TestStreamCreateHangingEndpoint(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	remove := srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		return kinesistest.Action{Hang: true}, req.Op == "CreateStream"
	})
	ctx := testCtx(t)
	var out, errOut bytes.Buffer
	start := time.Now()
	err = streamCommand(ctx, kc, []string{"create", "s", "--shards", "1", "--call-timeout", "300ms"}, &out, &errOut)
	var te *CallTimeoutError
	if !errors.As(err, &te) || te.Op != "CreateStream" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v (%T), want a CreateStream *CallTimeoutError", err, err)
	}
	if !strings.Contains(err.Error(), "no answer from the Kinesis endpoint within 300ms") {
		t.Errorf("message %q", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the test's context ended first (%v after start)", time.Since(start))
	}
	remove()
	mustStream(t, ctx, kc, "create", "s", "--shards", "1", "--call-timeout", "300ms")
	if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if err := streamCommand(ctx, kc, []string{"describe", "s", "--call-timeout", "0s"}, &out, &errOut); !errors.Is(err, errCLIUsage) {
		t.Errorf("--call-timeout 0s: error = %v, want a usage error", err)
	}
}
