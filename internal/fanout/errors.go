package fanout

import (
	"errors"

	"github.com/aws/smithy-go"
)

// ErrDone is returned by [Subscriber.Next] once the shard-end event has been delivered, and after
// [Subscriber.Close].
var ErrDone = errors.New("fanout: subscription finished")

// errorCode returns the AWS error code of err ("" when it carries none). Modeled exceptions
// (*types.ResourceInUseException, ...) and exceptions sent inside an event stream both implement
// smithy.APIError.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// Error classes of SubscribeToShard and the consumer operations.
const (
	codeInUse         = "ResourceInUseException"
	codeLimitExceeded = "LimitExceededException"
	codeNotFound      = "ResourceNotFoundException"
)

// isRefusal reports whether err is Kinesis refusing a subscription for now: another subscription for
// the same consumer and shard started less than 5 s ago (ResourceInUseException), or more than one
// SubscribeToShard per second for it (LimitExceededException).
func isRefusal(err error) bool {
	switch errorCode(err) {
	case codeInUse, codeLimitExceeded:
		return true
	}
	return false
}

// isFatal reports whether retrying cannot help: the consumer, shard or stream is gone, the request is
// invalid (a sequence number not in the shard), or access is denied.
func isFatal(err error) bool {
	switch errorCode(err) {
	case codeNotFound, "InvalidArgumentException", "ValidationException", "AccessDeniedException",
		"KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException":
		return true
	}
	return false
}

func isNotFound(err error) bool { return errorCode(err) == codeNotFound }
