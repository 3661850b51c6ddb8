// Package testenv is the shared helper for Shardwise's integration suites that run against real engines:
// kinesis-mock and dynalite started by localstack-test/engines.sh, or a LocalStack container.
//
// The engines are found through the standard AWS SDK environment (AWS_ENDPOINT_URL_KINESIS,
// AWS_ENDPOINT_URL_DYNAMODB, or AWS_ENDPOINT_URL; AWS_REGION; credentials). When no endpoint is set the
// helpers call t.Skip with a how-to message, so a plain `go test ./...` stays offline. Only loopback
// endpoints (127.0.0.0/8, ::1, localhost) are ever targeted: any other host fails the test, and every
// client built here also refuses to dial a non-loopback address.
//
// Typical use:
//
//	func TestSomething(t *testing.T) {
//		ctx := testenv.Context(t, 2*time.Minute)
//		kc := testenv.Kinesis(t)
//		stream := testenv.CreateStream(t, ctx, 4) // ACTIVE; deleted when the test ends
//		...
//	}
//
// The Kinesis client speaks HTTP/1.1 (concurrent large PutRecords over HTTP/2 are sometimes reset by
// kinesis-mock after the write was applied). [FanOutKinesis] is the client for SubscribeToShard: HTTP/2
// over TLS to SHARDWISE_KINESIS_TLS_ENDPOINT (kinesis-mock's self-signed port), with the test-only
// [InitialResponseShim] that supplies the initial-response event kinesis-mock never sends.
//
// Names come from [UniqueName] (t.Name() plus a random suffix); streams and tables made by [CreateStream]
// and [CreateTable], or registered with [DeleteStreamOnCleanup] and [DeleteTableOnCleanup], are deleted
// in t.Cleanup.
package testenv
