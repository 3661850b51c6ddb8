package fanout

import (
	"errors"

	"github.com/shardwise/shardwise/internal/awserr"
)

// ErrDone is returned by [Subscriber.Next] once the shard-end event has been delivered, and after
// [Subscriber.Close].
var ErrDone = errors.New("fanout: subscription finished")

// codeInUse answers RegisterStreamConsumer when the consumer exists already (another worker won the
// race) or is being deleted, and SubscribeToShard within 5 s of an accepted subscription for the same
// consumer and shard. awserr classifies it Transient; here it also means "describe it again".
const codeInUse = "ResourceInUseException"

// codeLimitExceeded answers RegisterStreamConsumer when the stream has its 20 consumers or 5 are being
// created (and SubscribeToShard called too often).
const codeLimitExceeded = "LimitExceededException"

// isFatal reports whether subscribing again cannot help: awserr calls err Terminal (the consumer,
// shard or stream is gone, the request is invalid, e.g. a sequence number not in the shard, access is
// denied). Refusals (ResourceInUseException, LimitExceededException), KMS key errors (a key being
// rotated, disabled or re-enabled), server failures and broken streams are retried with backoff.
func isFatal(err error) bool {
	return err != nil && awserr.Classify(err).Class == awserr.Terminal
}
