package kcl

import (
	"context"
	"fmt"
	"time"
)

// A Record is one user record as a processor receives it: deaggregated (a KPL aggregate yields one Record
// per user record, with its own partition key and sub-sequence number), decompressed (Shardwise zstd
// frame) and inside the shard's hash key range.
type Record struct {
	// PartitionKey is the user record's key: from the aggregate's key table, or the Kinesis record's.
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key from a KPL aggregate; "" for plain records
	// (GetRecords does not return the explicit hash key of plain records).
	ExplicitHashKey string
	// Data is the payload. It is only valid during the ProcessRecords call: copy it to keep it.
	Data []byte
	// ApproximateArrival is when Kinesis accepted the Kinesis record (every user record of an aggregate
	// shares it).
	ApproximateArrival time.Time
	// Position is the record's sequence number and sub-sequence number; pass it to Checkpointer.Checkpoint.
	Position Position
	// Aggregated reports whether the record came out of a KPL aggregate.
	Aggregated bool
}

// A RecordProcessor processes the records of one shard. The worker creates one per shard lease it holds
// (through the ProcessorFactory) and calls it from one goroutine: Initialize once, ProcessRecords for each
// batch in order, then Shutdown once. Different shards' processors run concurrently.
type RecordProcessor interface {
	// Initialize is called before the first batch. An error is retried after a backoff.
	Initialize(ctx context.Context, in InitializeInput) error
	// ProcessRecords handles one batch. An error makes the worker deliver the same batch again after a
	// backoff; records are never skipped. ctx is cancelled when the lease is lost or the worker stops hard.
	ProcessRecords(ctx context.Context, in ProcessRecordsInput) error
	// Shutdown is called once at the end: see ShutdownReason. For ShardEnded an error is retried after a
	// backoff, and the worker writes the ShardEnd checkpoint itself once Shutdown returns nil.
	Shutdown(ctx context.Context, in ShutdownInput) error
}

// ProcessorFactory makes the processor for a shard. It is called on worker goroutines, possibly
// concurrently, and must not block.
type ProcessorFactory func(shardID string) RecordProcessor

// InitializeInput describes where processing of a shard starts.
type InitializeInput struct {
	ShardID string // the shard this processor is for
	// Start is the stored checkpoint (processing resumes just after it), or the initial position
	// (TrimHorizon, Latest, AtTimestamp) for a shard never checkpointed.
	Start Position
	// PendingCheckpoint is a checkpoint prepared but not committed by a previous owner (nil if none),
	// with the application state stored with it.
	PendingCheckpoint      *Position
	PendingCheckpointState []byte // the state given to PrepareCheckpoint; nil if none
}

// ProcessRecordsInput is one batch of records of a shard.
type ProcessRecordsInput struct {
	ShardID string // the shard the records come from
	// Records are in shard order; never empty unless the worker has DeliverEmptyBatches. The slice is reused for the next batch once
	// ProcessRecords returns: copy the records (and their Data) you keep.
	Records []Record
	// LastDelivered is the position of the last record of the batch, or of a later user record of the
	// same Kinesis record that the worker filtered out (outside the shard's hash key range): checkpoint
	// it to mark the whole batch processed. With DeliverEmptyBatches, an empty batch carries the
	// previous batch's (the zero Position before any record was delivered).
	LastDelivered Position
	// MillisBehindLatest is how far the batch is behind the tip of the shard, as GetRecords reported.
	MillisBehindLatest int64
	// Checkpointer records progress; it is valid until Shutdown returns. The worker's also implements
	// CheckpointPreparer.
	Checkpointer Checkpointer
}

// ShutdownReason says why a processor is shut down.
type ShutdownReason int

const (
	// LeaseLost: another worker took the lease, renewals failed for the failover time, or the worker's
	// Run context was cancelled. The processor cannot checkpoint (Checkpointer is nil); the next owner
	// resumes after the last stored checkpoint.
	LeaseLost ShutdownReason = iota + 1
	// ShardEnded: every record of the closed shard was delivered. Once Shutdown returns nil the worker
	// checkpoints ShardEnd itself, which lets the child shards start.
	ShardEnded
	// Requested: Worker.Shutdown was called, or another worker asked for the lease to balance the fleet
	// (a graceful handoff). The processor may checkpoint; the worker then releases the lease, or hands it
	// to the requesting worker, which resumes at that checkpoint.
	Requested
)

// String returns the Java KCL's name of the reason: "LeaseLost", "ShardEnded" or "Requested".
func (r ShutdownReason) String() string {
	switch r {
	case LeaseLost:
		return "LeaseLost"
	case ShardEnded:
		return "ShardEnded"
	case Requested:
		return "Requested"
	}
	return fmt.Sprintf("ShutdownReason(%d)", int(r))
}

// ShutdownInput is passed to RecordProcessor.Shutdown.
type ShutdownInput struct {
	ShardID string         // the shard this processor is for
	Reason  ShutdownReason // why processing stops: LeaseLost, ShardEnded or Requested
	// LastDelivered is the position of the last record delivered to the processor (as in
	// ProcessRecordsInput), the zero Position if none was: with Requested, checkpoint it to hand the
	// shard over without any record delivered twice.
	LastDelivered Position
	// Checkpointer is nil for LeaseLost.
	Checkpointer Checkpointer
}

// A Checkpointer records how far a shard was processed. It has one method so processors are trivial to
// test with a fake. Further abilities are optional interfaces a Checkpointer may implement (as
// net/http's Flusher is for a ResponseWriter); the worker's implements all of them: CheckpointPreparer.
type Checkpointer interface {
	// Checkpoint stores pos (processed up to and including that record) in the lease table. It returns
	// ErrInvalidPosition for a position before the stored checkpoint or after the last delivered record,
	// and ErrLeaseLost once the lease is gone. ctx bounds the DynamoDB write.
	Checkpoint(ctx context.Context, pos Position) error
}

// CheckpointPreparer is implemented by Checkpointers that can prepare a checkpoint (the Java KCL's
// two-phase checkpoint), as the worker's does:
//
//	if p, ok := in.Checkpointer.(kcl.CheckpointPreparer); ok {
//		err = p.PrepareCheckpoint(ctx, pos, state)
//	}
type CheckpointPreparer interface {
	// PrepareCheckpoint stores pos as the lease's pending checkpoint, with optional application state,
	// without moving the checkpoint. The validation of Checkpoint applies. A later Checkpoint at pos (or
	// beyond) commits it and clears it; a processor started after a failure finds it in
	// InitializeInput.PendingCheckpoint.
	PrepareCheckpoint(ctx context.Context, pos Position, state []byte) error
}
