package kcl

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// A retriever delivers the Kinesis records of one shard, in order, from a start position. It is the seam
// between the shard consumer and the transport: polling (GetRecords, polling.go) today, enhanced fan-out
// (SubscribeToShard) as a second implementation. A retriever owns its goroutines; Close stops and waits
// for them.
type retriever interface {
	// Next blocks until the next batch, the end of the shard (batch.shardEnd), a permanent failure, or
	// the end of ctx. After a batch with shardEnd it returns errRetrievalDone.
	Next(ctx context.Context) (batch, error)
	// Close stops retrieval and waits for its goroutines. It is idempotent.
	Close()
}

// A batch is one unit of retrieved data. Records are the raw Kinesis records; conversion (decompress,
// deaggregate, filter) happens on the consumer's goroutine so prefetching stays cheap.
type batch struct {
	records            []types.Record
	millisBehindLatest int64
	bytes              int64 // sum of the records' data lengths (prefetch accounting)
	// shardEnd: the shard is closed and every record of it is in this or an earlier batch.
	shardEnd bool
	children []types.ChildShard // from the last GetRecords answer or fan-out event (may be empty)
}

// retrievalConfig is what every retriever needs to know about its shard.
type retrievalConfig struct {
	stream  streamRef
	shardID string
	// start is where to begin: a sentinel (TrimHorizon, Latest, AtTimestamp) or the checkpoint, read
	// AT_SEQUENCE_NUMBER (the converter skips what was processed).
	start Position
}
