package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kinesistest"
)

// virtual starts a server on the virtual network inside the current synctest bubble, with a client
// that tries each call once.
func virtual(t *testing.T, opts ...kinesistest.Option) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer(append([]kinesistest.Option{kinesistest.VirtualNetwork()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
}

func TestListShardsPageLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := virtual(t, kinesistest.ListShardsPageLimit(2), kinesistest.Stream("p", 5))
		ctx := t.Context()
		pages := func(max *int32) []int {
			var sizes []int
			in := &kinesis.ListShardsInput{StreamName: aws.String("p"), MaxResults: max}
			for {
				out, err := c.ListShards(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(out.Shards))
				if out.NextToken == nil {
					return sizes
				}
				in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: max}
			}
		}
		// No MaxResults, and one above the limit: pages of 2. Below it, MaxResults rules.
		for _, tc := range []struct {
			max  *int32
			want string
		}{{nil, "[2 2 1]"}, {aws.Int32(1000), "[2 2 1]"}, {aws.Int32(1), "[1 1 1 1 1]"}} {
			if got := fmt.Sprint(pages(tc.max)); got != tc.want {
				t.Errorf("MaxResults %v: pages %s, want %s", aws.ToInt32(tc.max), got, tc.want)
			}
		}
		if n := srv.Calls("ListShards"); n != 11 {
			t.Errorf("%d ListShards calls, want 11", n)
		}
	})
	for _, n := range []int{0, -1, 1001} {
		if _, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.ListShardsPageLimit(n)); !errors.Is(err, kinesistest.ErrInvalidConfig) {
			t.Errorf("ListShardsPageLimit(%d): %v, want ErrInvalidConfig", n, err)
		}
	}
}

// TestControlRequestNthAndHeader: a control function sees each call's number among the calls of its
// operation and its headers, here the SDK's attempt header, which shows how many attempts the client
// allows itself.
func TestControlRequestNthAndHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := virtual(t, kinesistest.Stream("n", 1))
		var mu sync.Mutex
		var seen []string
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s#%d %s", req.Op, req.Nth, req.Header.Get("Amz-Sdk-Request")))
			mu.Unlock()
			return kinesistest.Action{}, false
		})
		ctx := t.Context()
		for range 2 {
			putN(t, c, "n", 1, func(int) string { return "k" })
		}
		if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("n")}); err != nil {
			t.Fatal(err)
		}
		three := srv.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 3 })
		putN(t, three, "n", 1, func(int) string { return "k" })
		want := "[PutRecords#1 attempt=1; max=1 PutRecords#2 attempt=1; max=1 ListShards#1 attempt=1; max=1 PutRecords#3 attempt=1; max=3]"
		if got := fmt.Sprint(seen); got != want {
			t.Errorf("control saw %s, want %s", got, want)
		}
	})
}

// TestControlHoldsCall: a control function that blocks holds its call in flight, unapplied, until
// the test releases it; a held call is also released when its client gives up, and by Close.
func TestControlHoldsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := virtual(t, kinesistest.Stream("h", 1))
		release := make(chan struct{})
		var gaveUp atomic.Int32
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op != "PutRecords" {
				return kinesistest.Action{}, false
			}
			select {
			case <-release:
			case <-req.Context().Done():
				gaveUp.Add(1)
			}
			return kinesistest.Action{}, false
		})
		done := make(chan error, 1)
		go func() {
			_, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("h"),
				Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("held")}}})
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("held call answered: %v", err)
		default:
		}
		if got, _ := drain(t, c, iterator(t, c, "h", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")); len(got) != 0 {
			t.Fatalf("held call applied before release: %v", got)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got, _ := drain(t, c, iterator(t, c, "h", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")); fmt.Sprint(got) != "[held]" {
			t.Fatalf("after release the stream holds %v, want [held]", got)
		}

		// A client that gives up releases the control function.
		block := make(chan struct{})
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op != "ListShards" {
				return kinesistest.Action{}, false
			}
			select {
			case <-block:
			case <-req.Context().Done():
				gaveUp.Add(1)
			}
			return kinesistest.Action{}, false
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("h")}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("held ListShards: %v, want the client's deadline", err)
		}
		synctest.Wait()
		if gaveUp.Load() != 1 {
			t.Fatalf("control function not released when the client gave up (%d)", gaveUp.Load())
		}

		// Close releases a held call and waits for it.
		go c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("h")})
		synctest.Wait()
		srv.Close()
		if gaveUp.Load() != 2 {
			t.Fatalf("Close returned without releasing the held call (%d)", gaveUp.Load())
		}
	})
}

// TestControlDrop: a dropped call fails at the client like a reset one, but nothing is applied.
func TestControlDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := virtual(t, kinesistest.Stream("d", 1))
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			switch {
			case req.Op == "PutRecords" && req.Nth == 1:
				return kinesistest.Action{Drop: true, Err: kinesistest.NewError(kinesistest.CodeInternalFailure)}, true
			case req.Op == "PutRecords" && req.Nth == 2:
				return kinesistest.Action{Reset: true}, true
			}
			return kinesistest.Action{}, false
		})
		for i := range 2 {
			_, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String("d"),
				Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte(fmt.Sprint(i))}}})
			var ae smithy.APIError
			if err == nil || errors.As(err, &ae) {
				t.Fatalf("call %d: %v, want a connection error", i, err)
			}
		}
		got, _ := drain(t, c, iterator(t, c, "d", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
		if fmt.Sprint(got) != "[1]" {
			t.Fatalf("stream holds %v, want only the reset call's record [1]", got)
		}
	})
}

// TestFaultsByOperationAndEntryRate: Ops confines random faults to the operations listed, and
// EntryRate fails entries at its own rate, apart from the whole-call Rate.
func TestFaultsByOperationAndEntryRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := virtual(t, kinesistest.Stream("f", 2), kinesistest.Faults(kinesistest.FaultConfig{
			Rate: 0.3, EntryRate: 0.6, Seed: 11, Ops: []string{"PutRecords"},
			Kinds: []kinesistest.FaultKind{kinesistest.FaultEntryFailure, kinesistest.FaultInternalError}}))
		ctx := t.Context()
		for range 50 { // a rate of 1 would be needed to fail some of these by chance: 0.3 fails ~15
			if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("f")}); err != nil {
				t.Fatalf("ListShards, not in Ops: %v", err)
			}
		}
		calls, failedCalls, entries, failedEntries := 0, 0, 0, 0
		for range 100 {
			entriesIn := make([]types.PutRecordsRequestEntry, 10)
			for i := range entriesIn {
				entriesIn[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")}
			}
			calls++
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("f"), Records: entriesIn})
			if err != nil {
				wantCode(t, err, kinesistest.CodeInternalFailure)
				failedCalls++
				continue
			}
			entries += len(out.Records)
			failedEntries += int(aws.ToInt32(out.FailedRecordCount))
		}
		callShare, entryShare := float64(failedCalls)/float64(calls), float64(failedEntries)/float64(entries)
		if callShare < 0.15 || callShare > 0.45 || entryShare < 0.45 || entryShare > 0.75 {
			t.Errorf("%.2f of calls and %.2f of entries failed, want about 0.3 and 0.6", callShare, entryShare)
		}
		// PutRecord is not listed: its record never fails.
		for range 30 {
			if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("f"), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
				t.Fatalf("PutRecord, not in Ops: %v", err)
			}
		}
	})
	for _, r := range []float64{-0.1, 1.5} {
		_, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.Faults(kinesistest.FaultConfig{EntryRate: r}))
		if !errors.Is(err, kinesistest.ErrInvalidConfig) || !strings.Contains(err.Error(), "entry fault rate") {
			t.Errorf("EntryRate %v: %v, want ErrInvalidConfig", r, err)
		}
	}
}
