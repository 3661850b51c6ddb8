// Package fanout is Shardwise's enhanced fan-out machinery, shared by the kcl worker and the CLI
// (`shardwise tail --efo`): registering a stream consumer ([EnsureConsumer], [Deregister]) and reading
// a shard through SubscribeToShard ([Subscribe], [Subscriber]). It is internal on purpose: users
// read with fan-out through kcl's EnhancedFanOut option, which adds leases and checkpoints; a raw,
// lease-less subscriber is not part of the public API (DESIGN.md, "Fan-out without leases").
//
//	arn, err := fanout.StreamARN(ctx, kc, "orders")
//	consumerARN, err := fanout.EnsureConsumer(ctx, kc, arn, "billing")
//	sub, err := fanout.Subscribe(ctx, kc, consumerARN, "shardId-000000000000",
//		types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
//	defer sub.Close()
//	for {
//		ev, err := sub.Next(ctx)
//		if errors.Is(err, fanout.ErrDone) { break } // shard end already delivered
//		...
//	}
//
// # Subscriptions
//
// Kinesis ends every subscription after at most 5 minutes. The Subscriber then subscribes again
// AFTER_SEQUENCE_NUMBER the last ContinuationSequenceNumber it received (empty events included), so no
// record is lost or delivered twice across subscriptions. Refusals (ResourceInUseException: another
// subscription for this consumer and shard started less than 5 s ago; LimitExceededException: more
// than one call per second) and broken streams are retried with jittered backoff of at least 1 s, and
// never sooner than 5 s after the last accepted subscription. An event without a continuation
// sequence number ends the shard: it is delivered with its ChildShards and the Subscriber finishes.
// Errors that internal/awserr classifies Terminal are fatal and returned by Next:
// ResourceNotFoundException (consumer, shard or stream gone), InvalidArgumentException, access
// errors. KMS errors of the stream's key (being rotated, disabled, re-enabled) are retried with
// backoff like refusals, as the Java KCL does.
//
// Deadlines: each SubscribeToShard call is bounded by [CallTimeout] (30 s) until its event stream
// opens, then by [EventTimeout] between events; a call never answered is retried like a broken
// stream. [EnsureConsumer] bounds its calls with [RegistrationCallTimeout] and gives up with
// [ErrConsumerLimit] after [MaxRefusals] LimitExceededException answers to the registration (a stream
// has at most 20 consumers, 5 being created), reporting each through [OnRefused]. [StreamARN] returns
// a stream given as an ARN without a call.
//
// Flow control: at most [Buffer] events wait for the caller. While they wait the Subscriber does not
// read the event stream, the SDK's reader goroutines block, the HTTP/2 stream window fills and the
// server stops sending; memory stays bounded however slow the caller is.
//
// Every event stream is closed, and the Subscriber's goroutine (with the SDK's per-stream goroutines)
// has exited when [Subscriber.Close] returns.
//
// # HTTP/2
//
// Kinesis serves SubscribeToShard over HTTP/2 only. The AWS SDK's default HTTP client
// (aws/transport/http.BuildableClient) builds an http.Transport with ForceAttemptHTTP2 and a custom
// TLSClientConfig, so it negotiates h2 by ALPN against the HTTPS Kinesis endpoints: with the default
// client nothing needs to be set. (Checked in aws-sdk-go-v2 v1.48.0, aws/transport/http/client.go,
// defaultHTTPTransport; the test TestSDKDefaultClientNegotiatesH2 proves it against kinesistest.)
// A caller (kcl's user, through the Kinesis client it passes) that supplies its own client must:
//   - keep HTTP/2 possible: a custom http.Transport with its own TLSClientConfig or DialTLSContext
//     needs ForceAttemptHTTP2 = true (or Protocols with HTTP2 set);
//   - leave http.Client.Timeout at 0 (it would cut every subscription); a read timeout on the SDK's
//     BuildableClient must exceed the event interval (the SDK's Kinesis default is 15 minutes);
//   - for a plain-HTTP local endpoint (kinesistest without TLS, kinesis-mock's plain port), use h2c
//     with prior knowledge: [UnencryptedHTTP2Client].
//
// [SubscribeHTTPClient] gives SubscribeToShard its own client while other calls keep the Kinesis
// client's; tests inject kinesistest's HTTP2Client this way or through the Kinesis client.
package fanout
