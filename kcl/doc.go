// Package kcl is a Kinesis consumer library for fleets of workers, compatible with the Java KCL's lease
// table (package lease): each shard is leased to one worker at a time, progress is checkpointed in the
// lease, and workers on many hosts coordinate only through DynamoDB.
//
// # Usage
//
//	m, _ := lease.NewManager(dynamoClient, "my-app", hostname+"-"+randomSuffix)
//	_ = m.EnsureTable(ctx)
//	w, _ := kcl.NewWorker(kinesisClient, m, "my-stream", func(shardID string) kcl.RecordProcessor {
//		return &myProcessor{}
//	}, kcl.StartAt(kcl.TrimHorizon))
//	go func() { <-sigterm; _ = w.Shutdown(context.Background()) }()
//	err := w.Run(ctx) // kcl.ErrWorkerClosed after Shutdown
//
// A processor receives each shard's records in order (ProcessRecords) and checkpoints with
// in.Checkpointer.Checkpoint(ctx, in.LastDelivered) (the whole batch) or with a record's Position,
// typically after its batch is durable elsewhere. Checkpointer has one method, so a processor is
// tested with a one-method fake; optional abilities are small interfaces the worker's Checkpointer
// also implements (CheckpointPreparer: two-phase checkpoints), found with a type assertion to the
// interface, never to a concrete type.
//
// # Processing rules
//
//   - A child shard starts only after every parent shard reached ShardEnd (a split has one parent, a merge
//     two), so records of one partition key are processed in order across resharding.
//   - At the end of a shard the processor gets Shutdown(ShardEnded); once it returns nil the worker writes
//     the ShardEnd checkpoint itself (the Java KCL's "must checkpoint at shard end" cannot be forgotten)
//     and creates the children's leases. An error from Shutdown(ShardEnded) is retried after a backoff.
//   - An error from ProcessRecords delivers the same batch again after a backoff; records are never
//     skipped. Initialize errors are retried the same way.
//   - Records are deaggregated (KPL) with sub-sequence numbers, decompressed (Shardwise zstd frame, see
//     package compression; both through package kinesisrecord, the view the CLI shares), and user records whose hash key lies outside the shard's hash key range are
//     dropped one by one (Warn log, HookRecordDropped, HookRecordsFiltered), never the whole aggregate,
//     and never on AUTO streams (below). A record carrying the
//     aggregation magic that fails its checksum or parse is delivered as one plain record (Warn log,
//     HookCorruptRecord), as the Java KCL does.
//   - A shard resumes AT its checkpointed sequence number and skips user records at or below the
//     checkpointed sub-sequence number. Checkpoints are validated: not before the stored checkpoint, not
//     after the last delivered record (ErrInvalidPosition); after the lease is gone, ErrLeaseLost.
//   - Lease renewal runs on its own goroutine, independent of processing: a slow processor does not lose
//     its lease. Writes to one lease (renewals, checkpoints) are serialised so each carries the latest
//     lease counter.
//   - Enhanced fan-out (EnhancedFanOut option, behind the same retrieval seam as polling): subscriptions are
//     renewed before their 5-minute expiry, every event stream is closed, and ResourceInUseException on
//     re-subscribe backs off. A registration refused with LimitExceededException (a stream has at most
//     20 consumers) is retried MaxRegisterRefusals times, each refusal logged at Warn and reported to
//     HookConsumerRegistration; then Run stops as after Shutdown and returns ErrConsumerRegistration.
//
// # Leases and the fleet
//
// Every take interval a worker lists the lease table and takes leases up to its fair share,
// ceil(unfinished leases / live workers): unowned and expired leases first (expiry is judged on this
// worker's monotonic clock: a counter unchanged for the failover time), then up to
// MaxLeasesToStealAtOnce from workers above the share. A steal is a graceful handoff: the thief
// only marks the lease as requested (lease.Manager.RequestHandoff); the owner notices at its next renewal
// or take round, stops fetching for the shard, lets the batch in progress finish, calls
// Shutdown(Requested) (the processor may checkpoint) and transfers the lease to the thief, which reads
// its request every 50 ms and starts at that checkpoint. With fan-out the owner keeps processing until
// the thief's SubscribeToShard would be accepted (Kinesis refuses one within 5 s of the previous
// subscription for the same consumer and shard; at most half the failover time), so a hand-off
// delays records by tens of milliseconds (BenchmarkHandoffLatency). An owner that does not complete the handoff within the failover time (it died) loses
// the lease as an expired one. Shard sync (creating leases for new shards: parents
// before children, a child of a finished shard at TRIM_HORIZON, roots of the retained lineage at the
// initial position, never a shard already covered through a lease) runs on every worker at start, then periodically on one worker only: the
// owner of the smallest-keyed live lease. The same worker deletes finished leases once all their children
// have leases that progressed. The worker finishing a shard creates its children's leases at once.
//
// # Delivery guarantee
//
// At least once. A record is delivered again after a restart from an older checkpoint: after a hard stop or
// crash (everything after the last checkpoint), or when a processor does not checkpoint what it processed
// before its Shutdown(Requested) returns. Balance steals (handoffs) and a graceful Shutdown move shards
// without duplicates when processors checkpoint each batch or in Shutdown(Requested). Records are never
// skipped.
//
// # Polling
//
// One goroutine per shard calls GetRecords (MaxRecordsPerPoll, default 10,000) and then idles
// PollInterval (default 1.5 s, the Java KCL's idleTimeBetweenReadsInMillis): the 5 reads per second
// and 2 MiB/s of a shard are shared with every other application reading it. The idle time is never
// shorter than the byte budget asks for: after an answer of n bytes the next call waits n / 2 MiB/s
// (5 s after a 10 MiB answer, when Kinesis would throttle every read of the shard). CatchUpInterval
// opts into faster polling while a shard is behind the tip. Throttling backs off exponentially (up to
// 5 s) and is logged at Warn once per streak; an expired iterator is replaced by one AFTER the last
// fetched record.
//
// Prefetch is bounded in bytes: a shard polls again only while fewer than PrefetchBytes (default
// 8 MiB, the Java KCL's maxByteSize) wait for its processor, and at most Prefetch batches (default 3).
// The whole worker holds at most WorkerPrefetchBytes (default 256 MiB) of fetched records, waiting or
// being processed, calls in flight included (each reserves 24 MiB: a 10 MiB answer's body and records).
// What the processor makes of a batch (decoded user records share the batch's memory, decompressed
// ones do not) comes on top.
//
// # Calls, deadlines and the end of a shard
//
// Every Kinesis call is bounded by CallTimeout (default 30 s, the Java KCL's kinesisRequestTimeout):
// GetRecords, GetShardIterator, ListShards, DescribeStreamSummary, the fan-out registration calls and
// SubscribeToShard until its event stream opens. A call that times out is retried like any transient
// failure, so a call that is never answered costs one timeout instead of stalling its shard while its
// lease keeps being renewed.
//
// A ResourceNotFoundException for a shard is confirmed with ListShards before the shard counts as
// ended: a shard listed open is retried for as long as it takes, a closed one up to three times, and
// only a shard no longer listed (past retention) ends at once. A GetRecords answer without
// NextShardIterator and without ChildShards is asked about once more (with a new iterator) before it is
// taken as the end of the shard.
//
// A stream given to NewWorker as an ARN ("arn:aws:kinesis:region:account:stream/name", needed to read a
// stream of another account) is named by StreamARN in every call.
//
// # AUTO streams
//
// On a stream with service-managed record distribution (RecordDistributionStrategy AUTO, read with
// DescribeStreamSummary every ShardSyncInterval) Kinesis places records itself, so the sub-records of
// a KPL aggregate lie outside the receiving shard's hash range by design: nothing is filtered there.
// On other streams every dropped sub-record is logged at Warn and reported to HookRecordDropped.
//
// # HTTP clients
//
// The worker's calls are bounded by CallTimeout, but a connection that dies silently (a NAT or load
// balancer dropping it) also stalls every call multiplexed on it until then. Give the Kinesis client
// HTTP/2 ping health checks and a connection pool sized for the shards, keeping the SDK's
// BuildableClient so its own per-service settings still apply:
//
//	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
//		tr.MaxIdleConnsPerHost = 128 // net/http keeps 2; every shard calls the same endpoint
//		tr.ForceAttemptHTTP2 = true
//		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second}
//	})
//	kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.HTTPClient = hc })
//
// (awshttp is github.com/aws/aws-sdk-go-v2/aws/transport/http.) `shardwise consume` and `tail` build
// their clients this way.
//
// # Shutdown
//
// Worker.Shutdown(ctx) is graceful: no new leases, in-flight batches finish, processors get
// Shutdown(Requested) with a Checkpointer and LastDelivered, leases are released so other workers take them in their next
// take round instead of after the failover time. Cancelling Run's context is the hard stop: processors get
// Shutdown(LeaseLost) and cannot checkpoint; leases expire. Run and Shutdown return only after every
// goroutine of the worker exited.
//
// # Concurrency
//
// A Worker is safe for concurrent use. Each processor is called from one goroutine; different shards run
// concurrently. Hooks and the ProcessorFactory run on worker goroutines and must not block or call back
// into the Worker.
//
// # Defaults
//
//	StartAt                 TrimHorizon
//	PollInterval            1.5s (minimum 200ms)
//	CatchUpInterval         off
//	MaxRecordsPerPoll       10000
//	Prefetch                3 batches per shard
//	PrefetchBytes           8 MiB per shard
//	WorkerPrefetchBytes     256 MiB per worker
//	CallTimeout             30s per Kinesis call
//	MaxRegisterRefusals     10 (fan-out registration refused with LimitExceededException)
//	ShardSyncInterval       1m
//	ParentPollInterval      1s
//	EnhancedFanOut          off (polling); EnhancedFanOutARN for an existing consumer
//	RetryBackoff            100ms, doubling to 10s (processor retries)
//	DeliverEmptyBatches     off (only batches with records)
//	KeepFinishedLeases      off (finished leases are deleted once their children progressed)
//	WithLogger              discard
//	RenewInterval           failover/3   (fleet timing: how the worker holds and takes leases)
//	TakeInterval            2 × failover
//	RenewTimeout            failover/4
//	MaxLeasesToStealAtOnce  2 (the Java KCL: 1)
//	MaxLeasesForWorker      unlimited
//
// The lease duration itself, lease.Failover (10s), is an option of the lease.Manager passed to
// NewWorker: every worker of a fleet must use the same.
package kcl
