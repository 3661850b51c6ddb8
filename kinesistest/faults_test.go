package kinesistest_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestControlFailEntries(t *testing.T) {
	srv, c := start(t)
	createStream(t, c, "ctl", 1)
	remove := srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" || req.StreamName() != "ctl" {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{FailEntries: map[int]string{1: "ProvisionedThroughputExceededException", 3: "InternalFailure"}}, true
	})
	out := putN(t, c, "ctl", 4, func(i int) string { return fmt.Sprint(i) })
	remove()
	if aws.ToInt32(out.FailedRecordCount) != 2 {
		t.Errorf("FailedRecordCount = %d, want 2", aws.ToInt32(out.FailedRecordCount))
	}
	want := []string{"", "ProvisionedThroughputExceededException", "", "InternalFailure"}
	for i, r := range out.Records {
		if aws.ToString(r.ErrorCode) != want[i] || (want[i] == "") != (r.SequenceNumber != nil) {
			t.Errorf("entry %d = %+v, want code %q", i, r, want[i])
		}
	}
	got, _ := drain(t, c, iterator(t, c, "ctl", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if fmt.Sprint(got) != "[rec-0 rec-2]" {
		t.Errorf("written = %v, want only the entries that succeeded", got)
	}
	if out := putN(t, c, "ctl", 2, func(int) string { return "k" }); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Error("control still active after remove")
	}
}

func TestControlWholeCallFaults(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "wc", 1)
	var calls atomic.Int32
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecord" {
			return kinesistest.Action{}, false
		}
		switch calls.Add(1) {
		case 1:
			return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeInternalFailure, Message: "boom"}}, true
		case 2:
			return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeServiceUnavailable, Message: "busy"}}, true
		case 3:
			return kinesistest.Action{Reset: true}, true
		case 4:
			return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeThroughputExceeded, Message: "slow down"}}, true
		}
		return kinesistest.Action{}, false
	})
	put := func() error {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("wc"), PartitionKey: aws.String("k"), Data: []byte(fmt.Sprint(calls.Load()))})
		return err
	}
	wantCode(t, put(), "InternalFailure")
	wantCode(t, put(), "ServiceUnavailable")
	if err := put(); err == nil {
		t.Error("reset call succeeded")
	}
	var pte *types.ProvisionedThroughputExceededException
	if err := put(); !asErr(err, &pte) {
		t.Errorf("control error %v, want *types.ProvisionedThroughputExceededException", err)
	}
	if err := put(); err != nil {
		t.Errorf("fifth call: %v", err)
	}
	// The reset call was applied before the connection went: its record is in the stream.
	got, _ := drain(t, c, iterator(t, c, "wc", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if fmt.Sprint(got) != "[2 4]" {
		t.Errorf("records = %v, want the reset call's and the last one's", got)
	}
	// The SDK's standard retryer rides over all four faults.
	calls.Store(0)
	retrying := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.Client(), Credentials: aws.AnonymousCredentials{},
		Retryer: retry.AddWithMaxBackoffDelay(retry.AddWithMaxAttempts(retry.NewStandard(), 5), time.Millisecond)})
	if _, err := retrying.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("wc"), PartitionKey: aws.String("k"), Data: []byte("r")}); err != nil {
		t.Errorf("PutRecord with SDK retries over a 500, a 503, a reset and a throttle: %v", err)
	}
	if n := calls.Load(); n != 5 {
		t.Errorf("%d attempts, want 5", n)
	}
}

func TestControlDelay(t *testing.T) {
	srv, c := start(t)
	createStream(t, c, "slow", 1)
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		return kinesistest.Action{Delay: 100 * time.Millisecond}, req.Op == "ListShards"
	})
	begin := time.Now()
	listShards(t, c, "slow", nil)
	if d := time.Since(begin); d < 100*time.Millisecond {
		t.Errorf("delayed call answered after %v, want at least 100ms", d)
	}
}

func TestRandomFaults(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		_, c := start(t, kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.3, Kinds: []kinesistest.FaultKind{kinesistest.FaultEntryFailure}, Seed: 7}))
		createStream(t, c, "rf", 2)
		out := putN(t, c, "rf", 500, func(i int) string { return fmt.Sprint(i) })
		failed := 0
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				if aws.ToString(r.ErrorCode) != "InternalFailure" {
					t.Fatalf("code %s", aws.ToString(r.ErrorCode))
				}
				failed++
			}
		}
		if failed != int(aws.ToInt32(out.FailedRecordCount)) || failed < 100 || failed > 200 {
			t.Errorf("%d of 500 entries failed (FailedRecordCount %d), want about 150", failed, aws.ToInt32(out.FailedRecordCount))
		}
	})
	t.Run("calls", func(t *testing.T) {
		srv, err := kinesistest.NewServer(kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.5, Kinds: []kinesistest.FaultKind{kinesistest.FaultInternalError, kinesistest.FaultUnavailable}, Seed: 3}))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c := newClient(t, srv, srv.Client())
		codes := map[string]int{}
		for range 40 {
			_, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{})
			if err == nil {
				codes["ok"]++
				continue
			}
			var ae smithy.APIError
			if !asErr(err, &ae) {
				t.Fatalf("non-API error %v", err)
			}
			codes[ae.ErrorCode()]++
		}
		if codes["ok"] == 0 || codes["InternalFailure"] == 0 || codes["ServiceUnavailable"] == 0 || len(codes) != 3 {
			t.Errorf("outcomes %v, want a mix of ok, InternalFailure and ServiceUnavailable", codes)
		}
	})
}

func TestRandomResetAndSlow(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		srv, c := start(t, kinesistest.Faults(kinesistest.FaultConfig{Rate: 1, Kinds: []kinesistest.FaultKind{kinesistest.FaultReset}}))
		if _, err := c.CreateStream(ctxT(t), &kinesis.CreateStreamInput{StreamName: aws.String("rs"), ShardCount: aws.Int32(1)}); err == nil {
			t.Fatal("CreateStream answered despite a reset on every call")
		}
		// A handled call skips random faults: let ListStreams through to see the reset call was applied.
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			return kinesistest.Action{}, req.Op == "ListStreams"
		})
		out, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{})
		if err != nil || fmt.Sprint(out.StreamNames) != "[rs]" {
			t.Errorf("ListStreams after a reset CreateStream: %v %v, want [rs]", err, out)
		}
	})
	t.Run("slow", func(t *testing.T) {
		_, c := start(t, kinesistest.Faults(kinesistest.FaultConfig{Rate: 1, Kinds: []kinesistest.FaultKind{kinesistest.FaultSlow}, SlowDelay: 50 * time.Millisecond}))
		begin := time.Now()
		if _, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d < 50*time.Millisecond {
			t.Errorf("slow call answered after %v, want at least 50ms", d)
		}
	})
}
