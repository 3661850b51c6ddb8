package kpl

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Kinesis error codes the producer acts on.
const (
	codeThroughputExceeded = "ProvisionedThroughputExceededException"
	codeInternalFailure    = "InternalFailure"
	codeKMSThrottling      = "KMSThrottlingException"
	codeResourceNotFound   = "ResourceNotFoundException"
	codeRequestError       = "RequestError" // our code for a call that failed without an API error
)

// entryCodeClass classifies a PutRecords entry's ErrorCode.
func entryCodeClass(code string) (retryable, throttle bool) {
	switch code {
	case codeThroughputExceeded, codeKMSThrottling:
		return true, true
	case codeInternalFailure, "InternalFailureException", "ServiceUnavailable", "ServiceUnavailableException":
		return true, false
	}
	return false, false
}

// reqErr is a classified request-level error.
type reqErr struct {
	code, msg string
	retryable bool
	throttle  bool
	ambiguous bool // the call may have been applied (duplicates possible on retry)
	notFound  bool
}

// classifyRequestError decides what a failed PutRecords call means. It never looks at message
// text: API errors by code, then HTTP status, then the SDK's retryable-error checks.
func classifyRequestError(err error) reqErr {
	var c reqErr
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		c.code, c.msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
		switch c.code {
		case codeThroughputExceeded, codeKMSThrottling, "ThrottlingException", "LimitExceededException",
			"RequestLimitExceeded", "TooManyRequestsException", "SlowDown":
			c.retryable, c.throttle = true, true
			return c
		case codeResourceNotFound:
			c.notFound = true
			return c
		}
		if retryable, _ := entryCodeClass(c.code); retryable {
			c.retryable, c.ambiguous = true, true
			return c
		}
	} else {
		c.code, c.msg = codeRequestError, err.Error()
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		if code >= 500 || code == 429 {
			c.retryable, c.ambiguous = true, code != 429
			c.throttle = code == 429
			return c
		}
		if apiErr != nil {
			return c // a 4xx API error: terminal
		}
	}
	var inv smithy.InvalidParamsError
	if errors.As(err, &inv) {
		return c
	}
	if isConnRefused(err) { // never reached the server
		c.retryable = true
		return c
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
		apiErr == nil {
		// Timeouts, resets, truncated responses: the server may have applied the call.
		c.retryable, c.ambiguous = true, true
	}
	return c
}

func isConnRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
