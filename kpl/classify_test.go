package kpl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func httpErr(status int, err error) error {
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassifyRequestError(t *testing.T) {
	tests := []struct {
		name                                  string
		err                                   error
		code                                  string
		retryable, throttle, ambiguous, notFd bool
	}{
		{"throughput", httpErr(400, &types.ProvisionedThroughputExceededException{Message: new(string)}), codeThroughputExceeded, true, true, false, false},
		{"kms throttling", httpErr(400, &types.KMSThrottlingException{}), codeKMSThrottling, true, true, false, false},
		{"internal failure 500", httpErr(500, apiError("InternalFailure")), "InternalFailure", true, false, true, false},
		{"service unavailable 503", httpErr(503, apiError("ServiceUnavailable")), "ServiceUnavailable", true, false, true, false},
		{"unknown 5xx", httpErr(502, apiError("BadGateway")), "BadGateway", true, false, true, false},
		{"not found", httpErr(400, &types.ResourceNotFoundException{}), codeResourceNotFound, false, false, false, true},
		{"validation 4xx", httpErr(400, apiError("ValidationException")), "ValidationException", false, false, false, false},
		{"access denied", httpErr(400, apiError("AccessDeniedException")), "AccessDeniedException", false, false, false, false},
		{"reset", fmt.Errorf("send: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), codeRequestError, true, false, true, false},
		{"refused", fmt.Errorf("send: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), codeRequestError, true, false, false, false},
		{"timeout", fmt.Errorf("op: %w", context.DeadlineExceeded), codeRequestError, true, false, true, false},
		{"eof", fmt.Errorf("op: %w", errors.New("unexpected EOF")), codeRequestError, true, false, true, false},
		{"invalid params", &smithy.OperationError{Err: smithy.InvalidParamsError{Context: "PutRecordsInput"}}, codeRequestError, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classifyRequestError(tt.err)
			if c.code != tt.code || c.retryable != tt.retryable || c.throttle != tt.throttle || c.ambiguous != tt.ambiguous || c.notFound != tt.notFd {
				t.Errorf("classifyRequestError(%v) = %+v, want code %s retryable %v throttle %v ambiguous %v notFound %v",
					tt.err, c, tt.code, tt.retryable, tt.throttle, tt.ambiguous, tt.notFd)
			}
		})
	}
}

func TestEntryCodeClass(t *testing.T) {
	tests := []struct {
		code                string
		retryable, throttle bool
	}{
		{codeThroughputExceeded, true, true},
		{codeInternalFailure, true, false},
		{codeKMSThrottling, true, true},
		{"KMSAccessDeniedException", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if r, th := entryCodeClass(tt.code); r != tt.retryable || th != tt.throttle {
			t.Errorf("entryCodeClass(%q) = %v, %v, want %v, %v", tt.code, r, th, tt.retryable, tt.throttle)
		}
	}
}
