// Package lease implements the KCL lease table in DynamoDB: which worker processes which shard, and how
// far it got. The table is compatible with the Java KCL 2.x/3.x single-stream layout, so a Shardwise
// worker can adopt a table a Java KCL application wrote, and tools that read KCL tables read ours.
//
// # Table
//
// Table name = application name; hash key leaseKey (S) = shard ID; on-demand billing unless Provisioned.
// Attributes: leaseOwner (S), leaseCounter (N), checkpoint (S: a sequence number or TRIM_HORIZON, LATEST,
// AT_TIMESTAMP, SHARD_END), checkpointSubSequenceNumber (N), pendingCheckpoint (S),
// pendingCheckpointSubSequenceNumber (N), pendingCheckpointState (B), ownerSwitchesSinceCheckpoint (N),
// parentShardId (SS), childShardIds (SS), startingHashKey / endingHashKey (S, decimal), and Shardwise's
// pendingLeaseOwner (S, a graceful-handoff request; Java KCL 2.x ignores it). Optional attributes are
// omitted when empty, as the Java KCL does; unknown attributes (KCL 3.x extras) are left alone.
//
// # Two layers
//
// [Manager] is the table: stateless, one conditional DynamoDB write per method. Every write is conditional
// on leaseCounter, and on leaseOwner where ownership matters, and increments the counter; a failed
// condition (DynamoDB's ConditionalCheckFailedException, classified with errors.As) becomes ErrLeaseLost
// (a write that needs this worker to hold the lease), ErrConflict (take, evict, conditional delete) or
// ErrExists (create). Leases are values: every write returns the new copy as stored (ReturnValues ALL_NEW).
//
// [Coordinator] is one worker's lease holder, the part of a KCL scheduler that keeps leases: it renews
// held leases every RenewInterval, runs a take round every TakeInterval (scan, judge expiry with a
// [Tracker], take unowned and expired leases, steal from over-loaded workers), and serialises all writes to
// a held lease so a checkpoint never collides with its own renewal. A scheduler runs it with Run (or calls
// RenewAll and TakeRound on its own timers), reacts to Changed by diffing Held against its shard
// consumers, and checkpoints through it.
//
//	m, err := lease.NewManager(dynamodbClient, "my-app", workerID)
//	if err != nil { ... }
//	if err := m.EnsureTable(ctx); err != nil { ... }
//	for _, s := range shards { // shard sync: exactly one concurrent creator wins
//		err := m.Create(ctx, lease.Lease{Key: s.ID, Checkpoint: lease.TrimHorizon, ParentShardIDs: s.Parents})
//		if err != nil && !errors.Is(err, lease.ErrExists) { ... }
//	}
//	c := lease.NewCoordinator(m)
//	go c.Run(runCtx)                                     // renew + take until runCtx ends
//	held := c.Held()                                     // after each <-c.Changed()
//	_, err = c.Checkpoint(ctx, shardID, seq, subSeq)     // ErrLeaseLost: stop processing the shard
//	c.ReleaseAll(ctx)                                    // graceful: others take the leases at once
//
// # Expiry and failover
//
// Host clocks are never compared. Each observer remembers when it first saw each lease's current counter,
// on its own monotonic clock; a lease whose counter (and owner) it has seen unchanged for longer than the
// failover time is expired. Unowned leases (new, or released by their owner) are available at once. A
// worker that stops renewing (crash, partition) loses its leases to others no sooner than the failover
// time and no later than failover + 2 × TakeInterval after its last renewal (an observer first sees the
// last counter at one scan and acts at a later one); lower TakeInterval for faster failover. The worker
// itself drops any lease it could not renew for the failover time (HookLeaseLost), so two workers never
// knowingly process a shard at once.
//
// # Balancing
//
// Each take round: workers = owners of non-expired leases plus this one; target = ceil(leases / workers).
// A worker below target takes unowned leases, then expired ones (longest unchanged first), then steals —
// up to MaxLeasesToStealAtOnce per round — from the most loaded worker, but only from one holding at least
// target leases and at least two more than itself. Every steal therefore narrows the gap, so a fleet
// converges (8 leases on 3 workers: 3/3/2; a 4th worker joining gets 2 within two take cycles, one with
// the default cap) and a balanced fleet never moves a lease.
//
// # Graceful handoff
//
// A steal does not take a live owner's lease outright (its batch in progress would be processed twice):
// the thief writes itself as pendingLeaseOwner (RequestHandoff, conditional on counter and owner, counter
// unchanged so the owner's renewals go on) and counts the lease as its own in later rounds. The owner sees
// the request at its next renewal, checkpoint or take round. By default its Coordinator hands the lease
// over at once (Handoff: owner := requester, conditional on counter, owner and request); after
// DeferHandoffs (the kcl worker) the Coordinator signals Changed and Held shows Lease.PendingOwner, and the
// user stops processing, checkpoints and calls Release, which hands over; a request not honoured within
// the failover time is honoured by the Coordinator at a renewal. The requester checks its requests every
// min(RenewInterval, TakeInterval)/4 (and at each take round) and adopts the lease as soon as it is its
// own. A dead owner's lease expires and is taken as usual; Take, Evict and Release clear a leftover
// request. The Java KCL 3.x marks handoffs differently (leaseOwner = new owner, checkpointOwner = old
// owner); Shardwise removes checkpointOwner on every ownership change and never writes it.
//
// # Defaults
//
//	Failover                 10s          (KCL failoverTimeMillis)
//	RenewInterval            Failover/3
//	RenewTimeout             Failover/4   (each renewal call, SDK retries included)
//	TakeInterval             2 × Failover
//	MaxLeasesToStealAtOnce   2            (KCL: 1)
//	MaxLeasesForWorker       unlimited
//	Billing                  on-demand
//	Logger                   discard
//
// # Concurrency and lifecycle
//
// Manager and Coordinator are safe for concurrent use. Coordinator.Run owns its two goroutines and returns
// only after both stopped; RenewAll waits for the renewals it starts. Hooks run on these goroutines and
// must not block. Cancelling Run's context is the hard stop (leases expire after the failover time);
// StopTaking + ReleaseAll is the graceful one.
package lease
