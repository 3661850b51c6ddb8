package kinesistest

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrInvalidConfig is wrapped by the error [NewServer] returns for invalid options.
var ErrInvalidConfig = errors.New("invalid configuration")

// Exception names the server answers with. They are the names Kinesis uses, so the AWS SDK for Go
// returns its typed errors (for example *types.ResourceNotFoundException) for them.
const (
	CodeResourceNotFound     = "ResourceNotFoundException"
	CodeResourceInUse        = "ResourceInUseException"
	CodeInvalidArgument      = "InvalidArgumentException"
	CodeLimitExceeded        = "LimitExceededException"
	CodeThroughputExceeded   = "ProvisionedThroughputExceededException"
	CodeExpiredIterator      = "ExpiredIteratorException"
	CodeExpiredNextToken     = "ExpiredNextTokenException"
	CodeValidation           = "ValidationException"
	CodeInternalFailure      = "InternalFailure"
	CodeServiceUnavailable   = "ServiceUnavailable"
	codeUnknownOperation     = "UnknownOperationException"
	codeSerialization        = "SerializationException"
	codeInternalFailureEntry = "InternalFailure" // per-entry PutRecords code
)

// Error is a Kinesis error answer: the exception name (Code), its message and the HTTP status.
// A [ControlFunc] returns one in [Action.Err] to make the server fail a call on purpose.
type Error struct {
	Code    string // exception name, e.g. "ProvisionedThroughputExceededException"
	Message string
	Status  int // HTTP status; 0 means the status Kinesis uses for Code (400, or 500/503 for server faults)
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
