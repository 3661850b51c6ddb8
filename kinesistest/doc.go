// Package kinesistest is an in-process Amazon Kinesis Data Streams server that speaks the real wire
// protocol, for tests, benchmarks and local runs, as net/http/httptest is for HTTP. The stock AWS SDK
// client talks to it unchanged except for its endpoint.
//
// # Usage
//
//	srv, err := kinesistest.NewServer()
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer srv.Close()
//	kc := srv.KinesisClient() // a stock *kinesis.Client pointed at the server
//	kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(2)})
//
// [Server.KinesisClient] is the same as
//
//	kinesis.New(kinesis.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: aws.String(srv.URL()),
//		Credentials:  aws.AnonymousCredentials{}, // signatures are accepted and ignored
//		HTTPClient:   srv.Client(),
//	})
//
// Streams, reshards and consumers take effect at once: CreateStream returns with the stream ACTIVE.
// Processes in other languages reach the server through `shardwise local-kinesis`, which prints the
// endpoint to put in AWS_ENDPOINT_URL_KINESIS.
//
// # Seeded streams
//
// [Stream] creates streams when the server starts, so a test needs no CreateStream of its own:
//
//	srv, err := kinesistest.NewServer(kinesistest.Stream("orders", 4), kinesistest.Stream("audit", 1))
//
// # Virtual network and testing/synctest
//
// [VirtualNetwork] serves on an in-memory network instead of a loopback socket, so that a server
// and its clients can run inside a [testing/synctest] bubble: everything waiting on the network then
// waits on channels, and the bubble's fake clock jumps over idle time (polling intervals, backoffs,
// subscription heartbeats, lease expiries) in no real time. On a socket it cannot: goroutines waiting
// in the kernel are never durably blocked. [Server.Client], [Server.HTTP2Client] and
// [Server.KinesisClient] dial the virtual network through [Server.DialContext]; give DialContext to
// any transport built by hand. Make the server inside the bubble and close it there:
//
//	func TestOrders(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			srv, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.Stream("orders", 4))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { srv.Close() }) // cleanups run inside the bubble
//			kc := srv.KinesisClient()
//			// ... run a producer or a worker against kc; time.Sleep(time.Minute) takes no real time
//		})
//	}
//
// # Protocol
//
// AWS JSON 1.1 (X-Amz-Target: Kinesis_20131202.<Operation>) over HTTP/1.1 and h2c (HTTP/2 with prior
// knowledge), or over HTTPS with HTTP/2 by ALPN when the [TLS] option is given; the certificate is made
// at start and exposed by [Server.CertPool] and [Server.CertPEM]. Errors carry the Kinesis exception
// name in the __type field and the X-Amzn-ErrorType header with the status Kinesis uses, so the SDK
// returns its typed errors (*types.ResourceNotFoundException, *types.ProvisionedThroughputExceededException,
// ...). Every operation accepts StreamName or StreamARN.
//
// Operations: CreateStream (provisioned or on-demand), DeleteStream, DescribeStream,
// DescribeStreamSummary, ListStreams, ListShards (pagination, every ShardFilter type), PutRecord,
// PutRecords, GetShardIterator (all five types), GetRecords, SplitShard, MergeShards, UpdateShardCount
// (by splits and merges, so the lineage has at most two parents per shard), RegisterStreamConsumer,
// DescribeStreamConsumer, ListStreamConsumers, DeregisterStreamConsumer, SubscribeToShard,
// IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod, StartStreamEncryption,
// StopStreamEncryption, UpdateMaxRecordSize and UpdateStreamRecordDistributionStrategy; also
// AddTagsToStream, RemoveTagsFromStream, ListTagsForStream, UpdateStreamMode,
// Enable/DisableEnhancedMonitoring and DescribeLimits. Other operations answer
// UnknownOperationException.
//
// SubscribeToShard answers with an event stream (application/vnd.amazon.eventstream): an
// initial-response event, then SubscribeToShardEvent events pushed as soon as records arrive, with
// ContinuationSequenceNumber and MillisBehindLatest, and an empty event each second when idle. At the
// end of a closed shard the last event carries ChildShards and no continuation, and the stream ends.
// A subscription lasts [SubscriptionDuration] (5 minutes by default); subscribing again for the same
// consumer and shard within 5 seconds (real time) is refused with ResourceInUseException, and a newer
// subscription after that ends the older one. Kinesis serves SubscribeToShard over HTTP/2 only, so
// [Server.HTTP2Client] is the faithful choice; the server streams over HTTP/1.1 too.
//
// # Data model
//
// Sequence numbers are 56-digit decimal strings, strictly increasing in a shard and ordered by arrival
// across the stream. Records are routed by the MD5 of the partition key or by the explicit hash key to
// the open shard owning it (unless the stream uses AUTO distribution, below). Arrival timestamps, retention (24 hours by default), iterator expiry and
// the rate limits read the server's clock, which tests control with [Clock] and a [ManualClock]:
// records older than the retention period disappear, and so do closed shards once their data has.
// Stored data is never modified; memory is proportional to the data retained.
//
// # Validation
//
// Requests are checked as Kinesis checks them. First the API model's constraints, over the whole
// request and before the stream is looked up: a partition key of 1 to 256 characters, counted in
// Unicode code points as the Smithy length trait counts strings (U+1F600 is one; Java's
// String.length(), which the Java KPL's own check uses, counts it as two; AWS does not document the
// service's count), an ExplicitHashKey matching 0|([1-9]\d{0,38})
// as a whole (no sign, space or leading zero), data within 10 MiB. Any violation, in any entry of
// PutRecords, fails the whole call with HTTP 400 ValidationException listing every violation by
// member path ("2 validation errors detected: Value '01' at 'records.1.member.explicitHashKey' failed
// to satisfy constraint: ...; Value ..."), and nothing is written. Then the operation's own checks,
// again for the whole call: a hash key above 2^128-1, a missing partition key on a
// USER_PARTITION_KEY stream, a record above the stream's maximum size (under [EnforceLimits]) are
// HTTP 400 InvalidArgumentException.
//
// # Record distribution
//
// Each stream has a record distribution strategy. USER_PARTITION_KEY, the default, routes as above.
// AUTO ([RecordDistributionAuto], service-managed distribution) is for ON_DEMAND streams only, as in
// Kinesis: set it in CreateStream's RecordDistributionStrategy, switch it at run time with
// UpdateStreamRecordDistributionStrategy (by StreamARN), or make it the default for ON_DEMAND streams
// with [DefaultRecordDistribution]; DescribeStreamSummary reports it for ON_DEMAND streams. Under AUTO
// the server ignores partition keys and explicit hash keys for placement and puts records round-robin
// on the open shards, answering each record's ShardId and SequenceNumber as usual; GetRecords returns
// the partition key as sent. The partition key becomes optional (records written without one are read
// back without one), and PutRecord refuses SequenceNumberForOrdering with InvalidArgumentException.
// Asking for AUTO on a PROVISIONED stream, or switching an AUTO stream to PROVISIONED, is an
// InvalidArgumentException.
//
// # Limits
//
// Off by default. [EnforceLimits] makes the server refuse what Kinesis refuses, the way it refuses it:
//
//	per shard, written      1 MiB/s and 1000 records/s (partition keys counted); PutRecords fails the
//	                        entries over the limit with ProvisionedThroughputExceededException (positional
//	                        results, FailedRecordCount), PutRecord fails the call
//	PutRecords              at most 500 entries (ValidationException) and MaxRequestBytes, 5 MiB by
//	                        default (InvalidArgumentException "Records size exceeds 5 MB limit")
//	record size             data plus partition key within the stream's maximum record size (1024 KiB
//	                        unless CreateStream or UpdateMaxRecordSize set it; an update applies to the
//	                        next write, and DescribeStreamSummary reports it): InvalidArgumentException
//	GetRecords, per shard   5 calls/s and 2 MiB/s (ProvisionedThroughputExceededException); a large read
//	                        is answered whole and the shard rests until it has paid for it
//	SubscribeToShard        2 MiB/s per consumer and shard (events are paced, not refused)
//	DescribeStreamSummary   20 calls/s for the whole server, as Kinesis allows per account
//	                        (LimitExceededException, HTTP 400)
//
// Rates are token buckets holding one second of budget, read against the server clock: with a
// [ManualClock] that does not move, a test sees exactly 1000 records per shard accepted. GetRecords
// always answers at most 10,000 records and 10 MiB per call, as Kinesis does.
//
// # Faults
//
// [Faults] injects random failures at a rate: InternalFailure entries in PutRecords, whole calls
// answered 500 InternalFailure or 503 ServiceUnavailable, slow answers, and connection resets after the
// call was applied (the client cannot know whether its write happened); and, only when asked for by
// name, KMS throttling, expired tokens and hangs ([FaultHang]: the call is never answered, until the
// client gives up or the server closes; only a client with a timeout gets past it). [Server.Control]
// installs a [ControlFunc] that sees each call first and can fail it, delay it, hang it, reset it
// after applying it, or fail chosen PutRecords entries, deterministically:
//
//	var n atomic.Int32
//	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
//		if req.Op != "PutRecords" || n.Add(1) != 2 {
//			return kinesistest.Action{}, false
//		}
//		return kinesistest.Action{FailEntries: map[int]string{0: kinesistest.CodeThroughputExceeded}}, true
//	})
//
// [FailFirst] fails the first n calls of an operation with a given error, for the "limited at
// start, then answered" case, e.g. FailFirst("DescribeStreamSummary", 3, NewError(CodeLimitExceeded)).
// [FaultConfig.Ops] confines random faults to some operations (a test's own set-up and read-back
// calls then pass), and [FaultConfig.EntryRate] fails PutRecords entries at a rate of their own.
//
// A ControlFunc also serves to watch a client: [Request.Nth] numbers the calls of each operation
// (the first PutRecords call is 1), [Request.Header] carries the SDK's headers (amz-sdk-request
// says how many attempts the client allows itself), and a ControlFunc may block, holding its call
// in flight and unapplied while the test inspects the client, until released or until
// [Request.Context] ends. [Action.Drop] loses a call on its way (a reset, nothing applied), where
// [Action.Reset] applies it first.
//
// [Request.Entries] decodes the records of a PutRecord or PutRecords call for a ControlFunc, and
// [RejectEntries] refuses, at request level, every call carrying a record it matches (HTTP 400
// ValidationException naming the entry, as [InvalidEntryError] builds it), so one poisoned record
// fails each batch it travels in until a producer splits it out. [Request.ShardID] names the shard a
// call is about (a GetRecords through its iterator), and [Action.Edit] rewrites the answer of an
// applied call, for what Kinesis or another engine might answer but this server never does.
//
// Request-level refusals carry the status and exception name Kinesis uses, so the SDK returns its
// typed errors where it has them: [NewError] builds KMSThrottlingException, KMSInvalidStateException,
// KMSDisabledException, KMSNotFoundException, KMSAccessDeniedException, KMSOptInRequired and
// AccessDeniedException (HTTP 400, *types.KMSThrottlingException and so on), ExpiredTokenException
// (HTTP 400, no typed error) and InvalidSignatureException; [ClockSkewError] words the latter as AWS
// does for a skewed clock, and [Action.Date] sets the answer's Date header, which is how the SDK
// detects the skew and retries. [FaultKMSThrottling] and [FaultExpiredToken] draw two of them at
// random; like every kind added after the first five, they are drawn only when listed in
// [FaultConfig.Kinds].
//
// # Clients
//
// [Server.Client] and [Server.HTTP2Client] return HTTP clients set up for the server (trusting its
// certificate under TLS). Using them is recommended: they hide a race between the AWS SDK and net/http
// that a server answering within microseconds exposes, where the SDK closes the request body while the
// transport makes its last read of it and the connection carrying the answer is torn down ("use of
// closed network connection"). SDK clients with their default HTTP client work, but may rarely see it.
//
// # Call counts
//
// [Server.Calls] returns how many calls of an operation the server has received, whatever their
// outcome, and [Server.CallCounts] all of them, so a test can bound a client's traffic: for example
// that a producer on a stable stream calls ListShards at most twice a minute. ListShards honours
// every ShardFilter type; AT_LATEST lists the open shards only. Its pages hold at most 1000 shards,
// or MaxResults; [ListShardsPageLimit] lowers the cap so a client pages through a small stream.
//
// # Scope
//
// Implemented, because Shardwise or its users' code calls them: the data path (PutRecord, PutRecords,
// GetShardIterator, GetRecords, SubscribeToShard), what kpl and kcl read (ListShards,
// DescribeStreamSummary), stream consumers (Register, Describe, List, Deregister), and what tests and
// the CLI use to shape a stream (CreateStream, DeleteStream, DescribeStream, ListStreams, SplitShard,
// MergeShards, UpdateShardCount, UpdateStreamMode, UpdateStreamRecordDistributionStrategy,
// UpdateMaxRecordSize, retention and encryption changes). Also kept, with state that reads back but no
// effect on data, because clients configured by infrastructure code commonly call them at start:
// tags (AddTagsToStream, RemoveTagsFromStream, ListTagsForStream), Enable/DisableEnhancedMonitoring
// and DescribeLimits. The toolkit itself calls none of these last ones; they are not grown further.
//
// Deliberately skipped (answered with UnknownOperationException, as an unknown target is): resource
// policies (Get/Put/DeleteResourcePolicy), ARN-based tagging (TagResource, UntagResource,
// ListTagsForResource), account settings and warm throughput (Describe/UpdateAccountSettings,
// UpdateStreamWarmThroughput) and channels (Create/Delete/Describe/List/UpdateChannel). They are
// control-plane features with no effect on how records are written, read, aggregated or leased, so a
// model of them would test nothing of Shardwise; encryption is bookkeeping only (no KMS), and IAM is
// not modelled (signatures are accepted unchecked).
//
// # Concurrency and shutdown
//
// A Server is safe for concurrent use. [Server.Close] ends open subscriptions and hung calls, closes
// every connection and returns once every request goroutine has finished.
package kinesistest
