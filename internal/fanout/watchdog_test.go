package fanout

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// silentServer is an aws.HTTPClient standing in for Kinesis: each SubscribeToShard answer is an event
// stream with the initial response and one event carrying one record, after which it stays silent
// (a half-open connection) until the request is cancelled.
type silentServer struct {
	mu     sync.Mutex
	starts []types.StartingPosition // StartingPosition of each call
	wg     sync.WaitGroup           // writer goroutines
}

func (s *silentServer) Do(r *http.Request) (*http.Response, error) {
	var in struct {
		StartingPosition struct{ Type, SequenceNumber string }
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	n := len(s.starts)
	s.starts = append(s.starts, types.StartingPosition{Type: types.ShardIteratorType(in.StartingPosition.Type), SequenceNumber: aws.String(in.StartingPosition.SequenceNumber)})
	s.mu.Unlock()

	seq := fmt.Sprint(100 * (n + 1))
	event, _ := json.Marshal(map[string]any{
		"Records": []map[string]any{{"Data": base64.StdEncoding.EncodeToString([]byte("rec-" + seq)), "PartitionKey": "k",
			"SequenceNumber": seq, "ApproximateArrivalTimestamp": 1.7e9}},
		"ContinuationSequenceNumber": seq, "MillisBehindLatest": 0,
	})
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, m := range []struct{ typ, ct, payload string }{
		{"initial-response", "application/x-amz-json-1.1", "{}"},
		{"SubscribeToShardEvent", "application/json", string(event)},
	} {
		var msg eventstream.Message
		msg.Headers.Set(":event-type", eventstream.StringValue(m.typ))
		msg.Headers.Set(":content-type", eventstream.StringValue(m.ct))
		msg.Headers.Set(":message-type", eventstream.StringValue("event"))
		msg.Payload = []byte(m.payload)
		if err := enc.Encode(&buf, msg); err != nil {
			return nil, err
		}
	}
	pr, pw := io.Pipe()
	s.wg.Go(func() {
		pw.Write(buf.Bytes())
		<-r.Context().Done() // then silence until the subscriber gives up on this stream
		pw.CloseWithError(r.Context().Err())
	})
	return &http.Response{StatusCode: 200, Proto: "HTTP/2.0", ProtoMajor: 2, Body: pr, Request: r,
		Header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}}}, nil
}

// TestEventTimeoutReplacesSilentStream: a subscription that goes silent is closed after EventTimeout and
// replaced AFTER_SEQUENCE_NUMBER the last continuation (and never sooner than the 5 s rule allows).
func TestEventTimeoutReplacesSilentStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checkNoLeaks(t)
		srv := &silentServer{}
		t.Cleanup(srv.wg.Wait)
		kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://kinesis.test"),
			Credentials: aws.AnonymousCredentials{}, HTTPClient: srv})
		at := newAttempts()
		// Before Subscribe: its goroutine may make the first call (and start the 5 s window) before
		// Subscribe returns.
		start := time.Now()
		sub, err := Subscribe(testCtx(t), kc, "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1", shard0, trimHorizon,
			EventTimeout(200*time.Millisecond), OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := collect(t, sub, 2); strings.Join(got, ",") != "rec-100,rec-200" {
			t.Fatalf("got %v", got)
		}
		if d := time.Since(start); d < SubscribeWindow {
			t.Errorf("resubscribed after %v, before the 5 s window of the first subscription had passed", d)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.starts) < 2 || srv.starts[0].Type != types.ShardIteratorTypeTrimHorizon ||
			srv.starts[1].Type != types.ShardIteratorTypeAfterSequenceNumber || aws.ToString(srv.starts[1].SequenceNumber) != "100" {
			t.Errorf("subscriptions started at %+v, want TRIM_HORIZON then AFTER_SEQUENCE_NUMBER 100", srv.starts)
		}

	})
}
