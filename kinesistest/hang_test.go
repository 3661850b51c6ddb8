package kinesistest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestHangUntilClientGivesUp(t *testing.T) {
	srv, c := start(t)
	hung := make(chan struct{}, 1)
	remove := srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "CreateStream" {
			return kinesistest.Action{}, false
		}
		hung <- struct{}{}
		// Hang wins over an error or a reset given with it.
		return kinesistest.Action{Hang: true, Err: kinesistest.NewError(kinesistest.CodeInternalFailure), Reset: true}, true
	})
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("h"), ShardCount: aws.Int32(1)})
		done <- err
	}()
	<-hung
	select {
	case err := <-done:
		t.Fatalf("hung call answered: %v", err)
	default:
	}
	cancel() // the client gives up
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("hung call ended with %v, want the client's context.Canceled", err)
	}
	remove()
	// Nothing was applied.
	out, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{})
	if err != nil || len(out.StreamNames) != 0 {
		t.Errorf("ListStreams after a hung CreateStream: %v %v, want no stream", out, err)
	}
}

func TestCloseEndsHungCalls(t *testing.T) {
	srv, err := kinesistest.NewServer(kinesistest.Faults(kinesistest.FaultConfig{Rate: 1, Kinds: []kinesistest.FaultKind{kinesistest.FaultHang}}))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, srv.Client())
	entered := make(chan struct{}, 4)
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		entered <- struct{}{}
		return kinesistest.Action{}, false // on to the random faults: every call hangs
	})
	done := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.ListStreams(context.Background(), &kinesis.ListStreamsInput{}) // no deadline at all
			done <- err
		}()
	}
	for range 3 {
		<-entered
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting on hung calls after 10 s")
	}
	for range 3 {
		if err := <-done; err == nil {
			t.Error("a hung call got an answer when the server closed, want an error")
		}
	}
}
