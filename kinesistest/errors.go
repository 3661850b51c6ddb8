package kinesistest

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrInvalidConfig is wrapped by the error [NewServer] returns for invalid options.
var ErrInvalidConfig = errors.New("invalid configuration")

// Exception names the server answers with. They are the names Kinesis uses, so the AWS SDK for Go
// returns its typed errors (for example *types.ResourceNotFoundException) for them.
const (
	CodeResourceNotFound   = "ResourceNotFoundException"
	CodeResourceInUse      = "ResourceInUseException"
	CodeInvalidArgument    = "InvalidArgumentException"
	CodeLimitExceeded      = "LimitExceededException"
	CodeThroughputExceeded = "ProvisionedThroughputExceededException"
	CodeExpiredIterator    = "ExpiredIteratorException"
	CodeExpiredNextToken   = "ExpiredNextTokenException"
	CodeValidation         = "ValidationException"
	CodeInternalFailure    = "InternalFailure"
	CodeServiceUnavailable = "ServiceUnavailable"

	// KMS failures of PutRecord, PutRecords and GetRecords on encrypted streams (HTTP 400); the SDK
	// returns *types.KMSThrottlingException and so on for them.
	CodeKMSThrottling    = "KMSThrottlingException"
	CodeKMSInvalidState  = "KMSInvalidStateException"
	CodeKMSDisabled      = "KMSDisabledException"
	CodeKMSNotFound      = "KMSNotFoundException"
	CodeKMSAccessDenied  = "KMSAccessDeniedException"
	CodeKMSOptInRequired = "KMSOptInRequired"
	// CodeAccessDenied is the IAM refusal (HTTP 400, *types.AccessDeniedException).
	CodeAccessDenied = "AccessDeniedException"
	// CodeExpiredToken is the answer to a request signed with expired temporary credentials. It is
	// HTTP 400 here, as JSON-protocol services (Kinesis, DynamoDB) are reported to answer it; the
	// common-errors pages of newer services list 403, which Error.Status can give instead. The SDK
	// has no typed error for it: match smithy.APIError's ErrorCode.
	CodeExpiredToken = "ExpiredTokenException"
	// CodeInvalidSignature is the answer to a bad or skewed signature (HTTP 400); see
	// [ClockSkewError]. The SDK retries it only when the answer's Date header shows a clock skew
	// of more than 4 minutes (see [Action.Date]).
	CodeInvalidSignature     = "InvalidSignatureException"
	codeUnknownOperation     = "UnknownOperationException"
	codeSerialization        = "SerializationException"
	codeInternalFailureEntry = "InternalFailure" // per-entry PutRecords code
)

// Error is a Kinesis error answer: the exception name (Code), its message and the HTTP status.
// A [ControlFunc] returns one in [Action.Err] to make the server fail a call on purpose.
type Error struct {
	Code    string // exception name, e.g. "ProvisionedThroughputExceededException"
	Message string // the message field of the JSON error body
	Status  int    // HTTP status; 0 means the status Kinesis uses for Code (400, or 500/503 for server faults)
}

func (e *Error) Error() string {
	return "kinesistest: " + e.Code + ": " + e.Message
}

// status returns the HTTP status to answer with.
func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case CodeInternalFailure:
		return http.StatusInternalServerError
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// NewError returns an error answer for code with the message Kinesis's documentation gives for it
// (or a generic one), for [Action.Err].
func NewError(code string) *Error {
	msg, ok := defaultMessages[code]
	if !ok {
		msg = "injected " + code
	}
	return &Error{Code: code, Message: msg}
}

var defaultMessages = map[string]string{
	CodeKMSThrottling:      "The request was denied due to request throttling.",
	CodeKMSInvalidState:    "The request was rejected because the state of the specified resource isn't valid for this request.",
	CodeKMSDisabled:        "The request was rejected because the specified customer master key (CMK) isn't enabled.",
	CodeKMSNotFound:        "The request was rejected because the specified entity or resource can't be found.",
	CodeKMSAccessDenied:    "The ciphertext references a key that doesn't exist or that you don't have access to.",
	CodeKMSOptInRequired:   "The AWS access key ID needs a subscription for the service.",
	CodeAccessDenied:       "User is not authorized to perform this action.",
	CodeExpiredToken:       "The security token included in the request is expired",
	CodeInvalidSignature:   "The request signature we calculated does not match the signature you provided.",
	CodeThroughputExceeded: "Rate exceeded.",
	CodeLimitExceeded:      "Rate exceeded.",
	CodeInternalFailure:    "Internal service failure.",
	CodeServiceUnavailable: "Service unavailable.",
}

// ClockSkewError returns the InvalidSignatureException Kinesis answers a request signed at signed
// with, when its own clock reads now and the two are more than 5 minutes apart ("Signature expired:
// 20240101T000000Z is now earlier than 20240101T001000Z (20240101T001500Z - 5 min.)", or "Signature
// not yet current" for a signature from the future).
func ClockSkewError(signed, now time.Time) *Error {
	const stamp = "20060102T150405Z"
	signed, now = signed.UTC(), now.UTC()
	if signed.After(now) {
		return &Error{Code: CodeInvalidSignature, Message: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			signed.Format(stamp), now.Add(5*time.Minute).Format(stamp), now.Format(stamp))}
	}
	return &Error{Code: CodeInvalidSignature, Message: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
		signed.Format(stamp), now.Add(-5*time.Minute).Format(stamp), now.Format(stamp))}
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *Error {
	return errorf(CodeResourceNotFound, format, args...)
}

func errInvalid(format string, args ...any) *Error {
	return errorf(CodeInvalidArgument, format, args...)
}

func errInUse(format string, args ...any) *Error {
	return errorf(CodeResourceInUse, format, args...)
}

func errStreamNotFound(name, account string) *Error {
	return errNotFound("Stream %s under account %s not found.", name, account)
}
