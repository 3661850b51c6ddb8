package kinesisjson

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// PutRecords requests: the SDK's serializer writes the body through one generic shape writer per
// value, into a buffer that starts at 1 KiB and doubles, then copies the whole body out (and never
// recycles the writer). A producer's request is up to 5 MiB of data, about 7 MiB of JSON, several
// times a second: FastPutRecords hands the SDK a stream (putStream) that writes AppendPutRecords'
// bytes a 16 KiB piece at a time as they are read, into a recycled buffer that stays in the cache.
//
// Who owns the body. The body is handed to the SDK as a seekable stream. Within one operation the
// SDK reads it for the SigV4 payload hash and rewinds it, and every attempt wraps it in a fresh
// closer that the SDK closes as soon as the HTTP client returns: the close waits for a read in
// progress (the wrapper holds a mutex around each read) and later reads see io.EOF, so a transport
// still writing the body after the answer came (HTTP/1.1 early answer, an HTTP/2 stream) never
// reaches the body again. A retry rewinds the same stream, so the body (and the input records it
// reads) is needed until the whole operation has returned; the SDK never sets http.Request.GetBody, so net/http cannot replay
// the body on its own (an HTTP/2 retry on a new connection needs GetBody and gives up without it,
// leaving the retry to the SDK). FastPutRecords therefore adds an Initialize-step middleware, the
// outermost one, that lends the body for the operation and takes it back when the operation
// returns.

// FastPutRecords is a per-call option for PutRecords: it wraps the client's protocol so the request
// body is AppendPutRecords' bytes, written as the SDK reads them. Headers, signing, retries and response
// decoding stay the SDK's; other operations and other protocols go to the SDK unchanged. It may also
// be given to kinesis.New for every call.
func FastPutRecords(o *kinesis.Options) {
	if o.Protocol == nil {
		return
	}
	if _, ok := o.Protocol.(putProtocol); ok {
		return // already applied (to the client, or twice to this call)
	}
	o.Protocol = putProtocol{o.Protocol}
	o.APIOptions = append(o.APIOptions, addBodyLender)
}

// putTarget is the X-Amz-Target of PutRecords: the Kinesis service shape name and the operation.
const putTarget = "Kinesis_20131202.PutRecords"

var awsJSON11 = smithy.ShapeID{Namespace: "aws.protocols", Name: "awsJson1_1"}

// putProtocol is the client's protocol with PutRecords request serialization replaced.
type putProtocol struct{ smithyhttp.ClientProtocol }

func (p putProtocol) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable,
	req *smithyhttp.Request) error {
	pin, ok := in.(*kinesis.PutRecordsInput)
	if !ok || pin == nil || schema == nil || schema.Schema == nil || schema.ID().Name != "PutRecords" ||
		schema.IsInputEventStream() || p.ClientProtocol.ID() != awsJSON11 {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	// The request line and headers the AWS JSON 1.1 protocol sets.
	req.Method = http.MethodPost
	if len(req.URL.Path) == 0 {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", putTarget)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")

	var b *putBody
	if loan, _ := ctx.Value(loanKey{}).(*bodyLoan); loan != nil && loan.body == nil {
		b = putBodies.Get().(*putBody)
		loan.body = b
	} else {
		// No lender on the stack (the protocol was wrapped by hand), or a second serialization
		// within one operation: a buffer of its own, left to the garbage collector.
		b = new(putBody)
	}
	b.s.reset(pin)
	sreq, err := req.SetStream(&b.s)
	if err != nil {
		return fmt.Errorf("set stream: %w", err)
	}
	*req = *sreq
	return nil
}

// putBody is a request body: the stream the SDK reads it through.
type putBody struct {
	s putStream
}

// putBodies recycles request bodies (their write buffers). It is a variable so that tests can
// watch bodies come back.
var putBodies interface {
	Get() any
	Put(any)
} = &sync.Pool{New: func() any { return new(putBody) }}

// bodyLoan carries the body lent to one operation from the serializer to the lender.
type bodyLoan struct{ body *putBody }

type loanKey struct{}

// bodyLender is the Initialize-step middleware that takes a PutRecords body back once the
// operation, all its attempts included, has returned.
type bodyLender struct{}

const lenderID = "kinesisjson.PutRecordsBody"

func (bodyLender) ID() string { return lenderID }

func (bodyLender) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error) {
	loan := new(bodyLoan)
	out, md, err := next.HandleInitialize(context.WithValue(ctx, loanKey{}, loan), in)
	if b := loan.body; b != nil {
		loan.body = nil
		b.s.release()
		putBodies.Put(b)
	}
	return out, md, err
}

// addBodyLender puts bodyLender first on the stack (once, however many times the option was given).
func addBodyLender(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(lenderID); ok {
		return nil
	}
	return stack.Initialize.Add(bodyLender{}, middleware.Before)
}

// AppendPutRecords appends the AWS JSON 1.1 body of in to dst and returns the extended buffer. The
// body is what the SDK's serializer writes, member for member and in the same order: Data in
// standard padded base64, strings JSON-escaped, each byte of invalid UTF-8 replaced by U+FFFD, nil
// members left out.
func AppendPutRecords(dst []byte, in *kinesis.PutRecordsInput) []byte {
	if n := putRecordsSize(in); cap(dst)-len(dst) < n {
		// A new buffer, with room for a somewhat larger request next time; only dst's bytes are
		// copied (slices.Grow would copy its whole old capacity).
		dst = append(make([]byte, 0, len(dst)+n+n/8), dst...)
	}
	dst = append(dst, '{')
	comma := false
	member := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
	}
	if in.DryRun != nil {
		member("DryRun")
		dst = strconv.AppendBool(dst, *in.DryRun)
	}
	if in.Records != nil {
		member("Records")
		dst = append(dst, '[')
		for i := range in.Records {
			e := &in.Records[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			sep := ""
			if e.Data != nil {
				dst = append(dst, `"Data":"`...)
				dst = appendBase64(dst, e.Data)
				dst = append(dst, '"')
				sep = ","
			}
			if e.ExplicitHashKey != nil {
				dst = append(dst, sep...)
				dst = append(dst, `"ExplicitHashKey":`...)
				dst = jsonscan.AppendString(dst, *e.ExplicitHashKey)
				sep = ","
			}
			if e.PartitionKey != nil {
				dst = append(dst, sep...)
				dst = append(dst, `"PartitionKey":`...)
				dst = jsonscan.AppendString(dst, *e.PartitionKey)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if in.StreamARN != nil {
		member("StreamARN")
		dst = jsonscan.AppendString(dst, *in.StreamARN)
	}
	if in.StreamId != nil {
		member("StreamId")
		dst = jsonscan.AppendString(dst, *in.StreamId)
	}
	if in.StreamName != nil {
		member("StreamName")
		dst = jsonscan.AppendString(dst, *in.StreamName)
	}
	return append(dst, '}')
}

// putRecordsSize is the body's size when no string needs escaping (an escape grows the buffer).
func putRecordsSize(in *kinesis.PutRecordsInput) int {
	n := len(`{"DryRun":false,"Records":[],"StreamARN":"","StreamId":"","StreamName":""}`)
	for _, s := range []*string{in.StreamARN, in.StreamId, in.StreamName} {
		if s != nil {
			n += len(*s)
		}
	}
	for i := range in.Records {
		e := &in.Records[i]
		n += len(`{"Data":"","ExplicitHashKey":"","PartitionKey":""},`) + base64.StdEncoding.EncodedLen(len(e.Data))
		if e.ExplicitHashKey != nil {
			n += len(*e.ExplicitHashKey)
		}
		if e.PartitionKey != nil {
			n += len(*e.PartitionKey)
		}
	}
	return n
}

var _ smithyhttp.ClientProtocol = putProtocol{}
