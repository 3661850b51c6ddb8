package lease

import "slices"

// Checkpoint sentinels as the Java KCL writes them into the checkpoint attribute. Any other value is a
// Kinesis sequence number.
const (
	// TrimHorizon: nothing processed yet; start at the oldest record of the shard.
	TrimHorizon = "TRIM_HORIZON"
	// Latest: nothing processed yet; start after the newest record at the time processing starts.
	Latest = "LATEST"
	// AtTimestamp: nothing processed yet; start at the application's configured timestamp.
	AtTimestamp = "AT_TIMESTAMP"
	// ShardEnd: the shard is closed and every record of it was processed; its children may start.
	ShardEnd = "SHARD_END"
)

// A Lease is one row of the lease table: the right to process one shard, and where processing got to.
//
// Leases are values. Manager methods never modify the Lease they are given; every successful write returns
// the new copy as DynamoDB stored it (including the new Counter), and that copy is the one to pass to the
// next write. Slices in a returned Lease are never shared with the Manager.
//
// The dynamodbav tags document the Java KCL attribute names and let attributevalue.UnmarshalMap read an
// item too, but the Manager encodes and decodes items itself (see [Manager]) so that optional attributes are
// omitted exactly as the Java KCL omits them.
type Lease struct {
	// Key is the lease key (the hash key of the table); for a single-stream application the shard ID.
	Key string `dynamodbav:"leaseKey"`
	// Owner is the worker holding the lease; "" means unowned (never taken, or released/evicted).
	Owner string `dynamodbav:"leaseOwner,omitempty"`
	// PendingOwner is the worker that asked Owner to hand the lease over (a balance steal done
	// gracefully, see Manager.RequestHandoff); "" when none.
	PendingOwner string `dynamodbav:"pendingLeaseOwner,omitempty"`
	// ShardwiseOwner is the Shardwise worker that last took, renewed or was handed the lease
	// (attribute shardwiseOwner); see OwnedByShardwise.
	ShardwiseOwner string `dynamodbav:"shardwiseOwner,omitempty"`
	// Counter is incremented by every write; a counter that does not move for the failover time means
	// the owner is gone. Writes are conditional on it.
	Counter int64 `dynamodbav:"leaseCounter"`
	// Checkpoint is the last processed sequence number or one of the sentinels (TrimHorizon, Latest,
	// AtTimestamp, ShardEnd).
	Checkpoint string `dynamodbav:"checkpoint"`
	// CheckpointSubSequence is the sub-sequence number (position inside a KPL-aggregated record) of the
	// checkpoint; 0 for plain records and sentinels.
	CheckpointSubSequence int64 `dynamodbav:"checkpointSubSequenceNumber"`
	// PendingCheckpoint is a prepared (two-phase) checkpoint, "" when none.
	PendingCheckpoint string `dynamodbav:"pendingCheckpoint,omitempty"`
	// PendingCheckpointSubSequence is the sub-sequence number of PendingCheckpoint.
	PendingCheckpointSubSequence int64 `dynamodbav:"pendingCheckpointSubSequenceNumber,omitempty"`
	// PendingCheckpointState is application state stored with the prepared checkpoint (nil when none).
	PendingCheckpointState []byte `dynamodbav:"pendingCheckpointState,omitempty"`
	// OwnerSwitchesSinceCheckpoint counts ownership changes since the last checkpoint (a lease that keeps
	// moving without progress points at a poison record or an overloaded fleet).
	OwnerSwitchesSinceCheckpoint int64 `dynamodbav:"ownerSwitchesSinceCheckpoint"`
	// ParentShardIDs are the shards this shard was split or merged from (0, 1 or 2), sorted.
	ParentShardIDs []string `dynamodbav:"parentShardId,stringset,omitempty"`
	// ChildShardIDs are the shards this closed shard was split or merged into, sorted; recorded at shard end.
	ChildShardIDs []string `dynamodbav:"childShardIds,stringset,omitempty"`
	// StartingHashKey and EndingHashKey are the shard's hash key range, decimal; "" when unknown (old tables).
	StartingHashKey string `dynamodbav:"startingHashKey,omitempty"`
	EndingHashKey   string `dynamodbav:"endingHashKey,omitempty"`
}

// Finished reports whether the lease's shard was processed to its end (checkpoint ShardEnd).
func (l Lease) Finished() bool { return l.Checkpoint == ShardEnd }

// OwnedByShardwise reports whether the lease is owned by a Shardwise worker: its owner wrote itself into
// ShardwiseOwner at its last take, renewal or handoff. A Java KCL worker that takes a lease rewrites
// leaseOwner only, so its leases report false. Only Shardwise-owned leases are asked for a handoff
// (Manager.RequestHandoff); others are taken once expired.
func (l Lease) OwnedByShardwise() bool { return l.Owner != "" && l.ShardwiseOwner == l.Owner }

// HasPendingCheckpoint reports whether a prepared checkpoint is stored.
func (l Lease) HasPendingCheckpoint() bool { return l.PendingCheckpoint != "" }

// clone returns a deep copy, so callers and the Manager never share slices.
func (l Lease) clone() Lease {
	l.PendingCheckpointState = slices.Clone(l.PendingCheckpointState)
	l.ParentShardIDs = slices.Clone(l.ParentShardIDs)
	l.ChildShardIDs = slices.Clone(l.ChildShardIDs)
	return l
}

// Equal reports whether two leases have the same contents (nil and empty slices are equal).
func (l Lease) Equal(o Lease) bool {
	return l.Key == o.Key && l.Owner == o.Owner && l.PendingOwner == o.PendingOwner && l.Counter == o.Counter &&
		l.ShardwiseOwner == o.ShardwiseOwner &&
		l.Checkpoint == o.Checkpoint && l.CheckpointSubSequence == o.CheckpointSubSequence &&
		l.PendingCheckpoint == o.PendingCheckpoint &&
		l.PendingCheckpointSubSequence == o.PendingCheckpointSubSequence &&
		slices.Equal(l.PendingCheckpointState, o.PendingCheckpointState) &&
		l.OwnerSwitchesSinceCheckpoint == o.OwnerSwitchesSinceCheckpoint &&
		slices.Equal(l.ParentShardIDs, o.ParentShardIDs) && slices.Equal(l.ChildShardIDs, o.ChildShardIDs) &&
		l.StartingHashKey == o.StartingHashKey && l.EndingHashKey == o.EndingHashKey
}
