// Package lease implements the KCL lease table in DynamoDB: which worker processes which shard, and how
// far it got. The table is compatible with the Java KCL 2.x/3.x single-stream layout, so a Shardwise
// worker can adopt a table a Java KCL application wrote (see Java KCL tables below for which ones), and
// tools that read KCL tables read ours.
//
// # Table
//
// Table name = application name; hash key leaseKey (S) = shard ID; on-demand billing unless Provisioned.
// Attributes: leaseOwner (S), leaseCounter (N), checkpoint (S: a sequence number or TRIM_HORIZON, LATEST,
// AT_TIMESTAMP, SHARD_END), checkpointSubSequenceNumber (N), pendingCheckpoint (S),
// pendingCheckpointSubSequenceNumber (N), pendingCheckpointState (B), ownerSwitchesSinceCheckpoint (N),
// parentShardId (SS), childShardIds (SS), startingHashKey / endingHashKey (S, decimal), entityType (S,
// LEASE: written on create, as Java KCL 3.5 does), and Shardwise's own pendingLeaseOwner (S, a
// graceful-handoff request; the Java KCL ignores it) and shardwiseOwner (S, the owner again, written by
// every take, renewal and handoff: a lease whose leaseOwner differs from it is owned by a Java worker, see
// Lease.OwnedByShardwise). Optional attributes are omitted when empty, as the Java KCL does; unknown
// attributes (KCL 3.x throughputKBps, ...) are left alone. Items whose entityType is present and not LEASE
// (the worker metrics, leader lock and migration state Java KCL >= 3.5 keeps in the lease table) are not
// leases: List, Get, take rounds and the fair share skip them, and no method writes them.
//
// # Two layers
//
// [Manager] is the table: stateless, one conditional DynamoDB write per method. Every write is conditional
// on leaseCounter, and on leaseOwner where ownership matters, and increments the counter; a failed
// condition (DynamoDB's ConditionalCheckFailedException, classified with errors.As) becomes ErrLeaseLost
// (a write that needs this worker to hold the lease), ErrConflict (take, evict, conditional delete) or
// ErrExists (create). Leases are values: every write returns the new copy as stored (ReturnValues ALL_NEW).
// A failed condition is checked by reading the lease again: when the table shows this very write (the
// SDK retried a write whose first attempt was applied but whose reply was lost), the write succeeds with
// the stored copy, as the Java KCL does for renewals; take, checkpoints, child-shard updates, handoff
// requests and handoffs all recover this way.
//
// A kcl.Worker holds its leases through this package's coordinator (internal to the module: only the
// worker runs it), the part of a KCL scheduler that keeps leases: it renews held leases every
// RenewInterval, runs a take round every TakeInterval (scan, judge expiry with a tracker, take unowned and
// expired leases, steal from over-loaded workers), and serialises all writes to a held lease so a
// checkpoint never collides with its own renewal. Its timing and balance settings are options of the
// worker (kcl.RenewInterval, kcl.TakeInterval, kcl.RenewTimeout, kcl.MaxLeasesToStealAtOnce,
// kcl.MaxLeasesForWorker); its events are this package's hooks.
//
// A slow or throttling table must not cost leases. Each lease's renewal runs on its own (a slow one holds
// up no other lease's) and, when it fails, is retried within the lease's validity: until failover after
// the moment the last write known applied was sent (a checkpoint renews the lease too). Every write to a
// held lease (renewal, checkpoint) runs until then, as single-attempt copies of one conditional
// UpdateItem: another copy when none has answered for RenewTimeout/4, another when one fails (throttled,
// unanswered), up to three in flight. All copies are conditional on the same counter, so one applies at
// most, and a copy that fails its condition reads the lease back and recognises that effect. A table that
// answers in milliseconds never sees a copy; throttling answered at once is retried with backoff. A
// write that got no answer at all marks the lease uncertain: the next write reads it back first, and
// finds it still this worker's (a counter moved on proves the write applied) before it counts anything
// as lost. The safety rule is unchanged: a lease not renewed within the failover time is dropped
// (HookLeaseLost), and the worker stops processing its shard.
//
// What users call is the Manager: its table, the leases as values, and conditional writes:
//
//	m, err := lease.NewManager(dynamodbClient, "my-app", workerID)
//	if err != nil { ... }
//	if err := m.EnsureTable(ctx); err != nil { ... }
//	for _, s := range shards { // shard sync: exactly one concurrent creator wins
//		err := m.Create(ctx, lease.Lease{Key: s.ID, Checkpoint: lease.TrimHorizon, ParentShardIDs: s.Parents})
//		if err != nil && !errors.Is(err, lease.ErrExists) { ... }
//	}
//	leases, err := m.List(ctx)                           // status: owners, counters, checkpoints
//	w, err := kcl.NewWorker(kinesisClient, m, "my-stream", newProcessor) // takes and renews them
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
// the failover time is honoured by the Coordinator at a renewal. The requester reads each of its
// requests every 50 ms during the failover time after making it (one GetItem per outstanding request),
// then every min(RenewInterval, TakeInterval)/4 (and at each take round), and adopts the lease as soon as
// it is its own, so a hand-off costs the shard tens of milliseconds. A dead owner's lease expires and is taken as usual; Take, Evict and Release clear a leftover
// request. The Java KCL 3.x marks handoffs differently (leaseOwner = new owner, checkpointOwner = old
// owner); Shardwise removes checkpointOwner on every ownership change and never writes it. Java workers
// never honour pendingLeaseOwner, so a lease a Java worker owns (not OwnedByShardwise) is never
// requested: it counts for its owner in the fair share and is taken only once expired.
//
// # Java KCL tables
//
// Before its first write a Manager checks the table once ([Manager.CheckTable], read-only; EnsureTable
// and Coordinator.Run run it at start) and refuses, with a [*RefusedError] and without writing anything:
//
//   - a multi-stream table (leases keyed account:stream:epoch:shardId, or with a streamName attribute):
//     ErrMultiStreamTable;
//   - a table whose migration state (the Migration3.0 item, in the lease table or in
//     <table>-CoordinatorState, attribute cv) says the Java fleet runs the KCL 3.x algorithms
//     (CLIENT_VERSION_3X, CLIENT_VERSION_3X_WITH_ROLLBACK) while Java workers still renew their leases
//     (watched for one failover time): ErrJava3xFleetActive. Such a fleet assigns leases only to workers
//     in its metrics, so a Shardwise worker would get none. Stop the Java fleet, or roll it back to
//     2.x-compatible mode with the Java KCL's migration tool.
//
// Every other table is adopted: single-stream tables of Java KCL 1.x/2.x, 3.x tables in 2.x-compatible
// mode, and 3.x tables whose Java workers stopped. Their checkpoints are kept; their other items are left
// alone. Set Failover to at least the Java application's failoverTimeMillis: expiry is judged with it.
//
// # On real DynamoDB
//
// Every call runs under CallTimeout (default 10s, SDK retries included; the Java KCL's
// dynamoDbRequestTimeout is 1 minute) and fails with ErrTimeout when it runs out: a retryable failure,
// never a lost lease. The calls carry their own retryer (retry.NewStandard without client-side rate
// limiting, see WithRetryer), so throttling elsewhere on a shared client cannot use up the SDK's retry
// quota. The Coordinator's renewals and checkpoints are the exception: it sends them as single attempts
// and retries them itself, as copies (see Coordinator above), so it knows when the copy that applied was
// sent. Behind a slow link (every request +2 s) with 20 % of requests throttled and a 10 s failover,
// no lease is lost (TestSlowThrottledTableKeepsLeases; the chaos suite's scenario d); the price is up to
// three requests in flight per lease while answers take longer than RenewTimeout/4.
//
// # Defaults
//
//	Failover                 10s          (KCL failoverTimeMillis)
//	RenewInterval            Failover/3   (a kcl.Worker option, as are the four below but CallTimeout)
//	RenewTimeout             Failover/4   (a write to a held lease unanswered for a quarter of it is sent again)
//	CallTimeout              10s          (each DynamoDB call, SDK retries included)
//	Retryer                  standard, 3 attempts, no retry quota (ratelimit.None)
//	TakeInterval             2 × Failover
//	MaxLeasesToStealAtOnce   2            (KCL: 1)
//	MaxLeasesForWorker       unlimited
//	Billing                  on-demand
//	Logger                   discard
//
// # Concurrency and lifecycle
//
// A Manager is safe for concurrent use and starts no goroutine. The coordinator's goroutines belong to
// the kcl.Worker running it (see kcl). Hooks run on the Manager's callers' goroutines and the worker's,
// and must not block.
package lease
