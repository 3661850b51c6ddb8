package awserr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// answer wraps err the way the SDK returns an error answer: an OperationError around a ResponseError
// carrying the HTTP status.
func answer(status int, err error) error {
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " message"}
}

// TestCodes has one row per code of the table: the code answered at its usual HTTP status.
func TestCodes(t *testing.T) {
	const (
		term   = Terminal
		thr    = Throttle
		trans  = Transient
		amb    = true
		notAmb = false
	)
	tests := []struct {
		code      string
		status    int
		class     Class
		ambiguous bool
		flags     flag
	}{
		{"ProvisionedThroughputExceededException", 400, thr, notAmb, 0},
		{"KMSThrottlingException", 400, thr, notAmb, 0},
		{"ThrottlingException", 400, thr, notAmb, 0},
		{"Throttling", 400, thr, notAmb, 0},
		{"ThrottledException", 400, thr, notAmb, 0},
		{"RequestThrottled", 400, thr, notAmb, 0},
		{"RequestThrottledException", 400, thr, notAmb, 0},
		{"RequestLimitExceeded", 400, thr, notAmb, 0},
		{"TooManyRequestsException", 429, thr, notAmb, 0},
		{"SlowDown", 503, thr, notAmb, 0},
		{"BandwidthLimitExceeded", 400, thr, notAmb, 0},
		{"PriorRequestNotComplete", 400, thr, notAmb, 0},
		{"EC2ThrottledException", 400, thr, notAmb, 0},
		{"TransactionInProgressException", 400, thr, notAmb, 0},
		{"LimitExceededException", 400, thr, notAmb, 0},

		{"InternalFailure", 500, trans, amb, 0},
		{"InternalFailureException", 500, trans, amb, 0},
		{"InternalServerError", 500, trans, amb, 0},
		{"ServiceUnavailable", 503, trans, amb, 0},
		{"ServiceUnavailableException", 503, trans, amb, 0},
		{"ServiceFailure", 500, trans, amb, 0},

		{"RequestTimeout", 408, trans, notAmb, 0},
		{"RequestTimeoutException", 408, trans, notAmb, 0},
		{"KMSInvalidStateException", 400, trans, notAmb, 0},
		{"KMSDisabledException", 400, trans, notAmb, 0},
		{"KMSNotFoundException", 400, trans, notAmb, 0},
		{"KMSAccessDeniedException", 400, trans, notAmb, 0},
		{"KMSOptInRequired", 400, trans, notAmb, 0},
		{"ExpiredToken", 400, trans, notAmb, 0},
		{"ExpiredTokenException", 403, trans, notAmb, 0},
		{"RequestExpired", 400, trans, notAmb, 0},
		{"InvalidSignatureException", 400, trans, notAmb, 0},
		{"SignatureDoesNotMatch", 403, trans, notAmb, 0},
		{"RequestTimeTooSkewed", 403, trans, notAmb, 0},
		{"IDPCommunicationError", 400, trans, notAmb, 0},
		{"ResourceInUseException", 400, trans, notAmb, 0},

		{"ResourceNotFoundException", 400, term, notAmb, notFound},
		{"AccessDeniedException", 400, term, notAmb, 0},
		{"UnrecognizedClientException", 400, term, notAmb, 0},
		{"InvalidClientTokenId", 403, term, notAmb, 0},
		{"MissingAuthenticationToken", 403, term, notAmb, 0},
		{"ValidationException", 400, term, notAmb, validation},
		{"InvalidArgumentException", 400, term, notAmb, validation},
		{"SerializationException", 400, term, notAmb, validation},
		{"InvalidParameterException", 400, term, notAmb, validation},
		{"ExpiredIteratorException", 400, term, notAmb, expiredIterator},
		{"ExpiredNextTokenException", 400, term, notAmb, 0},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.code] = true
		t.Run(tt.code, func(t *testing.T) {
			want := Info{Code: tt.code, Message: tt.code + " message", Status: tt.status, Class: tt.class,
				Ambiguous: tt.ambiguous, NotFound: tt.flags&notFound != 0, Validation: tt.flags&validation != 0,
				ExpiredIterator: tt.flags&expiredIterator != 0}
			if got := Classify(answer(tt.status, apiErr(tt.code))); got != want {
				t.Errorf("Classify(%s at %d) = %+v, want %+v", tt.code, tt.status, got, want)
			}
			// The code decides, not the status: the same exception sent inside an event stream
			// (no HTTP status) is classified alike.
			want.Status = 0
			if got := Classify(fmt.Errorf("event stream: %w", apiErr(tt.code))); got != want {
				t.Errorf("Classify(%s without status) = %+v, want %+v", tt.code, got, want)
			}
		})
	}
	for code := range codes {
		if !tested[code] {
			t.Errorf("code %s is in the table but has no test row", code)
		}
	}
}

// refusedDial dials a loopback port nobody listens on and returns the real error.
func refusedDial(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded after its listener closed", addr)
	}
	return err
}

// skewed mimics the SDK's unexported clock-skew wrapper (aws/retry retryableClockSkewError).
type skewed struct{ err error }

func (e *skewed) Error() string        { return "probable clock skew: " + e.err.Error() }
func (e *skewed) Unwrap() error        { return e.err }
func (e *skewed) RetryableError() bool { return true }

func TestClassify(t *testing.T) {
	refused := refusedDial(t)
	var op *net.OpError
	if !errors.As(refused, &op) || op.Op != "dial" {
		t.Fatalf("refused dial = %#v, want a *net.OpError from dial", refused)
	}
	canceledCtx, cancel := context.WithCancel(context.Background())
	cancel()
	_, canceledDial := (&net.Dialer{}).DialContext(canceledCtx, "tcp", "127.0.0.1:9")
	if !errors.Is(canceledDial, context.Canceled) {
		t.Fatalf("dial with a cancelled context = %v, want context.Canceled", canceledDial)
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}

	rq := CodeRequestError
	tests := []struct {
		name string
		err  error
		want Info
	}{
		{"nil", nil, Info{}},
		{"typed throughput exceeded", answer(400, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}),
			Info{Code: "ProvisionedThroughputExceededException", Message: "slow down", Status: 400, Class: Throttle}},
		{"typed not found", answer(400, &types.ResourceNotFoundException{Message: aws.String("no stream")}),
			Info{Code: "ResourceNotFoundException", Message: "no stream", Status: 400, NotFound: true}},
		{"typed expired iterator", answer(400, &types.ExpiredIteratorException{}),
			Info{Code: "ExpiredIteratorException", Status: 400, ExpiredIterator: true}},
		{"typed KMS state in an event stream", &types.KMSInvalidStateException{Message: aws.String("rotating")},
			Info{Code: "KMSInvalidStateException", Message: "rotating", Class: Transient}},
		{"generic API error wrapped with %w", fmt.Errorf("subscribe: %w", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "m"}),
			Info{Code: "ThrottlingException", Message: "m", Class: Throttle}},
		{"unknown code at 500", answer(500, apiErr("Boom")), Info{Code: "Boom", Message: "Boom message", Status: 500, Class: Transient, Ambiguous: true}},
		{"unknown code at 502", answer(502, apiErr("BadGateway")), Info{Code: "BadGateway", Message: "BadGateway message", Status: 502, Class: Transient, Ambiguous: true}},
		{"unknown code at 429", answer(429, apiErr("Busy")), Info{Code: "Busy", Message: "Busy message", Status: 429, Class: Throttle}},
		{"unknown code at 413", answer(413, apiErr("RequestEntityTooLarge")), Info{Code: "RequestEntityTooLarge", Message: "RequestEntityTooLarge message", Status: 413, Class: Terminal, Validation: true}},
		{"unknown code at 400", answer(400, apiErr("Nope")), Info{Code: "Nope", Message: "Nope message", Status: 400}},
		{"unknown code without status", fmt.Errorf("event stream: %w", apiErr("Nope")), Info{Code: "Nope", Message: "Nope message"}},
		{"access denied from a skewed clock", answer(403, &skewed{apiErr("AccessDeniedException")}),
			Info{Code: "AccessDeniedException", Message: "AccessDeniedException message", Status: 403, Class: Transient}},
		{"invalid params", &smithy.OperationError{Err: smithy.InvalidParamsError{Context: "PutRecordsInput"}},
			Info{Code: rq, Message: (&smithy.OperationError{Err: smithy.InvalidParamsError{Context: "PutRecordsInput"}}).Error(), Validation: true}},
		{"refused dial", fmt.Errorf("send: %w", refused), Info{Code: rq, Message: "send: " + refused.Error(), Class: Transient}},
		{"refused without dial op", fmt.Errorf("send: %w", syscall.ECONNREFUSED), Info{Code: rq, Message: "send: " + syscall.ECONNREFUSED.Error(), Class: Transient}},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), Info{Code: rq, Message: "op: context deadline exceeded", Class: Transient, Ambiguous: true}},
		{"SDK-wrapped deadline", &smithy.CanceledError{Err: context.DeadlineExceeded},
			Info{Code: rq, Message: (&smithy.CanceledError{Err: context.DeadlineExceeded}).Error(), Class: Transient, Ambiguous: true}},
		{"caller cancelled", &smithy.CanceledError{Err: context.Canceled},
			Info{Code: rq, Message: (&smithy.CanceledError{Err: context.Canceled}).Error(), Ambiguous: true}},
		{"caller cancelled while dialling", fmt.Errorf("send: %w", canceledDial),
			Info{Code: rq, Message: "send: " + canceledDial.Error()}},
		{"reset", fmt.Errorf("send: %w", reset), Info{Code: rq, Message: "send: " + reset.Error(), Class: Transient, Ambiguous: true}},
		{"truncated answer", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), Info{Code: rq, Message: "read: unexpected EOF", Class: Transient, Ambiguous: true}},
		{"undecodable 200", answer(200, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}),
			Info{Code: rq, Message: answer(200, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}).Error(), Status: 200, Class: Transient, Ambiguous: true}},
		{"5xx without API error", answer(502, errors.New("bad gateway")),
			Info{Code: rq, Message: answer(502, errors.New("bad gateway")).Error(), Status: 502, Class: Transient, Ambiguous: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %+v, want %+v", tt.err, got, tt.want)
			}
		})
	}
}

func TestEntryCode(t *testing.T) {
	tests := []struct {
		code string
		want Class
	}{
		{"ProvisionedThroughputExceededException", Throttle},
		{"KMSThrottlingException", Throttle},
		{"InternalFailure", Transient},
		{"InternalFailureException", Transient},
		{"ServiceUnavailable", Transient},
		{"ServiceUnavailableException", Transient},
		{"KMSAccessDeniedException", Transient}, // the Java KPL retries every entry code until RecordTtl
		{"KMSInvalidStateException", Transient},
		{"SomeFutureCode", Transient},
		{"ThrottlingException", Throttle},
		{"", Terminal}, // not a failure
	}
	for _, tt := range tests {
		if got := EntryCode(tt.code); got != tt.want {
			t.Errorf("EntryCode(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestPredicates(t *testing.T) {
	tests := []struct {
		name                      string
		err                       error
		throttle, nf, expiredIter bool
	}{
		{"nil", nil, false, false, false},
		{"limit exceeded", answer(400, &types.LimitExceededException{}), true, false, false},
		{"429", answer(429, apiErr("X")), true, false, false},
		{"not found", fmt.Errorf("x: %w", &types.ResourceNotFoundException{}), false, true, false},
		{"expired iterator", apiErr("ExpiredIteratorException"), false, false, true},
		{"internal failure", answer(500, apiErr("InternalFailure")), false, false, false},
	}
	for _, tt := range tests {
		if got := IsThrottle(tt.err); got != tt.throttle {
			t.Errorf("%s: IsThrottle = %v, want %v", tt.name, got, tt.throttle)
		}
		if got := IsNotFound(tt.err); got != tt.nf {
			t.Errorf("%s: IsNotFound = %v, want %v", tt.name, got, tt.nf)
		}
		if got := IsExpiredIterator(tt.err); got != tt.expiredIter {
			t.Errorf("%s: IsExpiredIterator = %v, want %v", tt.name, got, tt.expiredIter)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{Terminal: "terminal", Throttle: "throttle", Transient: "transient", Class(7): "Class(7)"} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}
