// Package awserr is Shardwise's one classifier of errors from AWS calls: kpl, kcl and the fan-out
// subscriber all ask it what a failure means, so a throttle, a retryable failure, an ambiguous write
// and a terminal error mean the same thing everywhere.
//
//	info := awserr.Classify(err)
//	switch {
//	case info.ExpiredIterator: // get a new iterator
//	case info.Class == awserr.Throttle: // back off and lower the rate
//	case info.Class == awserr.Transient: // back off and retry; info.Ambiguous: it may have been applied
//	default: // Terminal: give up (info.NotFound, info.Validation say why)
//	}
//
// It never looks at message text. In order: an API error (smithy.APIError, which modeled exceptions,
// unmodeled ones and exceptions sent inside an event stream all implement) is classified by its code
// when the code is in the table of codes.go; an unknown code by its HTTP status (5xx Transient and
// ambiguous, 429 Throttle, any other status Terminal); an error without an API error by what happened
// on the connection: refused or failed to dial (Transient, never reached the server), cancelled by the
// caller (Terminal), a deadline, a reset, a truncated or undecodable answer, anything else the SDK's
// retryables accept (Transient and ambiguous). Client-side validation (smithy.InvalidParamsError) is
// Terminal.
//
// Classify is a pure function, safe for concurrent use.
package awserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Class says what a caller should do about a failed call.
type Class int

const (
	// Terminal: retrying the same request cannot help (bad request, access denied for good, not found).
	Terminal Class = iota
	// Throttle: the service asks the caller to slow down; retry after backoff and lower the rate.
	Throttle
	// Transient: retry with backoff. Server errors, timeouts, resets, and 4xx answers AWS documents as
	// transient (KMS key rotation or state changes, expired credentials being refreshed, clock skew).
	Transient
)

func (c Class) String() string {
	switch c {
	case Terminal:
		return "terminal"
	case Throttle:
		return "throttle"
	case Transient:
		return "transient"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// CodeRequestError is Info.Code for a call that failed without an API error (timeout, reset, refused
// connection, client-side validation).
const CodeRequestError = "RequestError"

// Info describes an error from an AWS call.
type Info struct {
	// Code is the AWS error code ("ProvisionedThroughputExceededException"), or CodeRequestError when
	// the call failed without an API error (timeout, reset, refused).
	Code string
	// Message is the API error's message, or the error's text for a request error.
	Message string
	// Status is the HTTP status of the answer when known, else 0 (no answer, or an exception sent
	// inside an event stream).
	Status int
	Class  Class
	// Ambiguous: the request may have been applied (a 5xx, a timeout or a reset after sending), so a
	// retry may duplicate it.
	Ambiguous bool
	// NotFound: ResourceNotFoundException (the stream, shard, consumer or table does not exist).
	NotFound bool
	// Validation: the request itself was refused as invalid at request level (ValidationException,
	// InvalidArgumentException, SerializationException, InvalidParameterException, or the SDK's
	// client-side parameter validation). A caller batching several entries may split the batch to
	// isolate the bad entry.
	Validation bool
	// ExpiredIterator: ExpiredIteratorException (the shard iterator is older than 5 minutes).
	ExpiredIterator bool
}

// Classify describes err. A nil err gives the zero Info.
func Classify(err error) Info {
	if err == nil {
		return Info{}
	}
	var info Info
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		info.Status = status.HTTPStatusCode()
	}
	var apiErr smithy.APIError
	isAPI := errors.As(err, &apiErr)
	if isAPI {
		info.Code, info.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
		if e, ok := codes[info.Code]; ok {
			info.Class, info.Ambiguous = e.class, e.ambiguous
			info.NotFound = e.flags&notFound != 0
			info.Validation = e.flags&validation != 0
			info.ExpiredIterator = e.flags&expiredIterator != 0
			if info.Class == Terminal && sdkRetryable(err) {
				// The SDK wraps AccessDeniedException, InvalidSignatureException and the other
				// clock-skew codes in a retryable error when the answer's Date header shows the
				// local clock off by more than 4 minutes; it corrects the offset for the next
				// attempt (aws/retry/middleware.go, wrapAsClockSkew).
				info.Class = Transient
			}
			return info
		}
	} else {
		info.Code, info.Message = CodeRequestError, err.Error()
	}

	switch s := info.Status; {
	case s >= 500:
		info.Class, info.Ambiguous = Transient, true
		return info
	case s == 429:
		info.Class = Throttle
		return info
	case s == 413:
		// Request Entity Too Large: the request as a whole was refused (a record or the body over
		// a size limit, as Kinesis has answered oversized records); splitting it may help.
		info.Validation = true
		return info
	case isAPI && s != 0:
		return info // an answer with an unknown error code and a 1xx-4xx status: Terminal
	}

	var params smithy.InvalidParamsError
	switch {
	case errors.As(err, &params):
		info.Validation = true // refused before sending: Terminal
	case errors.Is(err, context.Canceled):
		// The caller gave up; the request may still have been applied if it was sent.
		info.Ambiguous = !neverSent(err)
	case neverSent(err):
		info.Class = Transient
	case errors.Is(err, context.DeadlineExceeded) || !isAPI ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary:
		// Timeouts, resets, truncated or undecodable answers: the server may have applied the call.
		info.Class, info.Ambiguous = Transient, true
	}
	// Left Terminal: an API error with an unknown code and no HTTP status (an unmodeled exception
	// sent inside an event stream) that the SDK does not consider retryable either.
	return info
}

// EntryCode classifies the ErrorCode of one PutRecords result entry. Kinesis documents two entry
// codes, ProvisionedThroughputExceededException and InternalFailure; KMSThrottlingException and the
// other spellings of an internal failure are accepted too. Any other code is Transient: the Java KPL
// retries every failed entry until its RecordTtl (retrier.cc), an entry refusal is about that
// record at that moment (a KMS key state during rotation, say), and the TTL bounds the retries. An
// entry that failed was not written, so an entry failure is never ambiguous.
func EntryCode(code string) Class {
	if code == "" {
		return Terminal // not a failure; nothing to retry
	}
	if e, ok := codes[code]; ok && e.class == Throttle {
		return Throttle
	}
	return Transient
}

// IsThrottle reports whether err asks the caller to slow down.
func IsThrottle(err error) bool { return Classify(err).Class == Throttle }

// IsNotFound reports whether err is ResourceNotFoundException.
func IsNotFound(err error) bool { return Classify(err).NotFound }

// IsExpiredIterator reports whether err is ExpiredIteratorException.
func IsExpiredIterator(err error) bool { return Classify(err).ExpiredIterator }

// neverSent reports whether err happened before the request reached the server: the connection was
// refused or could not be dialled (DNS failure, dial timeout or cancellation included).
func neverSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// sdkRetryable reports whether the SDK marked err retryable itself (its clock-skew wrapper).
func sdkRetryable(err error) bool {
	var r interface{ RetryableError() bool }
	return errors.As(err, &r) && r.RetryableError()
}
