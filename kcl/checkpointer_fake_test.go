package kcl_test

import (
	"context"
	"testing"

	"github.com/shardwise/shardwise/kcl"
)

// fakeCheckpointer is the one-method fake the Checkpointer documentation recommends.
type fakeCheckpointer struct{ stored []kcl.Position }

func (f *fakeCheckpointer) Checkpoint(_ context.Context, pos kcl.Position) error {
	f.stored = append(f.stored, pos)
	return nil
}

// The package example's processor runs against the one-method fake: it checkpoints each batch's
// LastDelivered, and on Shutdown(Requested) the last delivered position, without asking for more
// than a Checkpointer (it used to assert *ShardCheckpointer, and panicked here).
func TestExampleProcessorWithOneMethodFake(t *testing.T) {
	ctx := t.Context()
	cp := &fakeCheckpointer{}
	p := printer{}
	batch := kcl.ProcessRecordsInput{
		ShardID: "shardId-000000000000",
		Records: []kcl.Record{
			{PartitionKey: "a", Position: kcl.Position{SequenceNumber: "10"}},
			{PartitionKey: "b", Position: kcl.Position{SequenceNumber: "20"}},
		},
		// a filtered sub-record after the last delivered one
		LastDelivered: kcl.Position{SequenceNumber: "20", SubSequenceNumber: 3},
		Checkpointer:  cp,
	}
	if err := p.ProcessRecords(ctx, batch); err != nil {
		t.Fatal(err)
	}
	in := kcl.ShutdownInput{ShardID: batch.ShardID, Reason: kcl.Requested, LastDelivered: batch.LastDelivered, Checkpointer: cp}
	if err := p.Shutdown(ctx, in); err != nil {
		t.Fatal(err)
	}
	want := []kcl.Position{batch.LastDelivered, batch.LastDelivered}
	if len(cp.stored) != 2 || cp.stored[0] != want[0] || cp.stored[1] != want[1] {
		t.Errorf("checkpoints %v, want %v", cp.stored, want)
	}
	// Nothing delivered: Shutdown(Requested) stores nothing; LeaseLost has no Checkpointer.
	cp.stored = nil
	if err := p.Shutdown(ctx, kcl.ShutdownInput{ShardID: batch.ShardID, Reason: kcl.Requested, Checkpointer: cp}); err != nil || len(cp.stored) != 0 {
		t.Errorf("Shutdown(Requested) before any batch: %v, stored %v", err, cp.stored)
	}
	if err := p.Shutdown(ctx, kcl.ShutdownInput{ShardID: batch.ShardID, Reason: kcl.LeaseLost}); err != nil {
		t.Errorf("Shutdown(LeaseLost) = %v", err)
	}
	// The optional capability is found by interface, not by concrete type.
	var c kcl.Checkpointer = cp
	if _, ok := c.(kcl.CheckpointPreparer); ok {
		t.Error("the one-method fake claims to prepare checkpoints")
	}
}
