package kinesislambda

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// ForEach calls fn for each user record of ev, in order (see [All]), and returns the response for the
// handler to return to Lambda with a nil error.
//
// When fn returns an error, ForEach stops: no later record is passed to fn, and the response reports
// the failed record's Kinesis sequence number as the one batch item failure, so Lambda (with
// ReportBatchItemFailures on) checkpoints before it and invokes the function again from that Kinesis
// record on. For a user record of an aggregate that is the aggregate's sequence number: the user
// records of the aggregate that fn already processed come again (see the package doc). fn's error is
// not returned: log it in fn. When every record succeeds the response has an empty BatchItemFailures
// list, which Lambda takes as complete success.
//
// ctx is passed to fn and checked before each Kinesis record: once it is done (the function's deadline
// passed, for instance), ForEach stops and reports the next Kinesis record as the failure, so nothing
// unprocessed is checkpointed.
func ForEach(ctx context.Context, ev events.KinesisEvent, fn func(context.Context, Record) error) events.KinesisEventResponse {
	var d decoder
	var failed *events.KinesisEventRecord
	for i := range ev.Records {
		kr := &ev.Records[i]
		if ctx.Err() != nil {
			failed = kr
			break
		}
		ok := d.each(kr, func(r Record) bool {
			if fn(ctx, r) != nil {
				failed = kr
				return false
			}
			return true
		})
		if !ok {
			break
		}
	}
	if failed == nil {
		return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	}
	return failure(failed.Kinesis.SequenceNumber)
}

// FailedAt returns the partial batch response reporting r as the first record that failed: Lambda
// re-delivers from r's Kinesis record on (for a user record of an aggregate, from the aggregate's
// first user record). Return it with a nil error, after processing the records before r and none after.
func FailedAt(r Record) events.KinesisEventResponse {
	return failure(r.SequenceNumber)
}

func failure(seq string) events.KinesisEventResponse {
	return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: seq}}}
}
