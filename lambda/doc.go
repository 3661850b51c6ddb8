// Package kinesislambda turns the Kinesis events AWS Lambda hands a function (an event source mapping
// on a Kinesis data stream) into user records: KPL aggregates deaggregated, Shardwise compression
// frames decompressed, each user record with its partition key, explicit hash key, sequence number and
// sub-sequence number. A helper builds the partial batch response that reports the first failed record.
//
// It is a module of its own, github.com/shardwise/shardwise/lambda, so that the main module does not
// pull aws-lambda-go into every build; the package is named kinesislambda so that it does not clash
// with aws-lambda-go's lambda package, which the same handler imports for lambda.Start. Of
// github.com/shardwise/shardwise it imports only the aggregation and compression packages and a small
// internal JSON scanner (no AWS SDK).
//
// # Usage
//
//	func handler(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
//		return kinesislambda.ForEach(ctx, ev, func(ctx context.Context, r kinesislambda.Record) error {
//			return store(ctx, r.PartitionKey, r.Data) // an error stops the batch here
//		}), nil
//	}
//
//	func main() { lambda.Start(handler) }
//
// Turn on ReportBatchItemFailures in the event source mapping's FunctionResponseTypes: without it
// Lambda ignores the response and a failed batch is retried whole (or, with a nil error, not at all).
// The handler returns a nil error on purpose: an error makes Lambda retry the whole batch.
//
// [NewHandler] makes the same handler as a lambda.Handler for lambda.StartHandler, which hands it the
// event's raw JSON: it decodes the event with [DecodeEvent], five to seven times faster than
// encoding/json, so on an event of KPL aggregates the whole invocation takes about a third of the CPU
// time of the handler above:
//
//	func main() { lambda.StartHandler(kinesislambda.NewHandler(process)) }
//
// [All] and [Records] give the records without a callback; [FailedAt] builds the same response for a
// loop that stops at a record. With tumbling windows (events.KinesisTimeWindowEvent) pass its embedded
// KinesisEvent and copy BatchItemFailures into the window response.
//
// # What a record is
//
// The user records come out exactly as the kcl package delivers the same Kinesis records (tests run
// both over one stream): a Kinesis record's data is first decompressed if it carries the Shardwise
// compression frame (see the compression package), then deaggregated if it is a KPL aggregate (magic,
// protobuf and a matching MD5 trailer). Anything else is one plain record with the Kinesis record's
// partition key and sub-sequence number 0; that includes data carrying the aggregation magic with a
// wrong MD5 trailer (the Java KCL treats it as plain data too), and corrupt aggregates or compression
// frames, which are delivered undecoded with [Record.DecodeError] set, never dropped. Empty data is a
// record with empty Data.
//
// One difference from kcl: a Lambda event does not carry the shard's hash key range, so user records
// are not filtered by it. After a reshard, a KPL aggregate can land in a shard that does not own some of
// its user records; kcl (as the Java KCL) drops those there, the producer sends them again to the right
// shard, and a Lambda function sees them twice, once in each shard (the awslabs deaggregators behave
// the same way).
//
// # Partial batch responses and re-delivery
//
// Lambda checkpoints a shard by Kinesis record, not by user record. [ForEach] stops at the first user
// record whose callback fails and reports the sequence number of the Kinesis record carrying it; Lambda
// then invokes the function again from that Kinesis record on. When that record is an aggregate, its
// user records before the failed one were processed already and come again, with the same sequence
// and sub-sequence numbers: a handler that must not process them twice records the position of its
// last success (sequence number and sub-sequence number) and skips what is not [Record.After] it, or
// makes its processing idempotent. Lambda may also re-deliver whole batches (retries after an error or
// a timeout, BisectBatchOnFunctionError), so idempotent processing is the robust choice.
//
// # Depending on it
//
// In your function's go.mod require both modules at matching versions:
//
//	require (
//		github.com/shardwise/shardwise v1.x.y
//		github.com/shardwise/shardwise/lambda v1.x.y
//	)
//
// Inside this repository lambda/go.mod points at the parent directory with a replace directive; replace
// directives of dependencies are ignored by the go command, so users get the required version.
//
// # Allocation and lifetime
//
// Record.Data of a user record is a sub-slice of the event's data (no copy) unless the Kinesis record
// was compressed: it stays valid as long as the event does, and must not be modified. Partition keys
// and explicit hash keys of one aggregate share one string allocation. Deaggregating costs two
// allocations per aggregate (three when it has explicit hash keys), none per user record; a compressed
// record costs its decompressed copy. [All] and [ForEach] allocate no record slice.
//
// The functions are safe for concurrent use; a Record is a value.
package kinesislambda
