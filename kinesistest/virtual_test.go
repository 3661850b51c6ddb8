package kinesistest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestVirtualNetworkInBubble runs server and SDK clients inside a synctest bubble, over each
// transport: an hour of fake time passes at once while the clients hold open connections, and a
// subscription's heartbeats (one per idle second, on the server's timers) arrive on the fake clock.
// On a loopback socket the bubble could not advance its clock: the server's accept loop and the
// clients' connection readers would wait in the kernel, never durably blocked.
func TestVirtualNetworkInBubble(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []kinesistest.Option
		major int
	}{
		{"h2c", nil, 2},
		{"tls-h2", []kinesistest.Option{kinesistest.TLS()}, 2},
		{"http1", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, err := kinesistest.NewServer(append([]kinesistest.Option{kinesistest.VirtualNetwork(), kinesistest.Stream("orders", 4)}, tc.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { srv.Close() })
				if !strings.HasSuffix(srv.URL(), ".invalid") {
					t.Errorf("URL = %s, want a host under .invalid", srv.URL())
				}
				ctx := t.Context()
				kc := srv.KinesisClient()
				hc := srv.HTTP2Client()
				if tc.major == 1 {
					hc = srv.Client()
				}
				protos := &protoRecorder{next: hc.Transport}
				fan := srv.KinesisClient(func(o *kinesis.Options) { o.HTTPClient = &http.Client{Transport: protos} })

				shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
				if err != nil {
					t.Fatalf("ListShards: %v", err)
				}
				if len(shards.Shards) != 4 {
					t.Fatalf("seeded stream has %d shards, want 4", len(shards.Shards))
				}
				start := time.Now()
				time.Sleep(time.Hour) // idle connections and the server's accept loop are durably blocked
				if got := time.Since(start); got != time.Hour {
					t.Fatalf("slept %v of fake time, want 1h", got)
				}

				sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
				if err != nil {
					t.Fatalf("DescribeStreamSummary: %v", err)
				}
				reg, err := kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
					StreamARN: sum.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("app")})
				if err != nil {
					t.Fatalf("RegisterStreamConsumer: %v", err)
				}
				put, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("first")})
				if err != nil {
					t.Fatalf("PutRecord: %v", err)
				}
				sub, err := fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: reg.Consumer.ConsumerARN,
					ShardId: put.ShardId, StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
				if err != nil {
					t.Fatalf("SubscribeToShard: %v", err)
				}
				es := sub.GetStream()
				defer es.Close()
				subscribed := time.Now()
				var got []string
				heartbeats := 0
				for heartbeats < 30 {
					e, ok := nextEvent(t, es.Events())
					if !ok {
						t.Fatalf("subscription ended: %v", es.Err())
					}
					for _, r := range e.Records {
						got = append(got, string(r.Data))
					}
					if len(e.Records) == 0 {
						heartbeats++
					}
				}
				// The first event answers at once (empty or with the record), then one per idle second.
				if d := time.Since(subscribed); d < 28*time.Second || d > 31*time.Second {
					t.Errorf("30 heartbeats took %v of fake time, want about 30s", d)
				}
				if fmt.Sprint(got) != "[first]" {
					t.Errorf("pushed %v, want [first]", got)
				}
				if p := protos.get(); p != tc.major {
					t.Errorf("fan-out client spoke HTTP/%d, want %d", p, tc.major)
				}
			})
		})
	}
}

// TestVirtualNetworkDialAfterClose: a closed server refuses connections as a closed port does, and
// clients fail instead of waiting.
func TestVirtualNetworkDialAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := kinesistest.NewServer(kinesistest.VirtualNetwork())
		if err != nil {
			t.Fatal(err)
		}
		kc := srv.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
		if _, err := kc.ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
			t.Fatalf("ListStreams: %v", err)
		}
		srv.Close()
		if _, err := srv.DialContext(t.Context(), "tcp", "ignored:1"); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("DialContext after Close = %v, want connection refused", err)
		}
		if _, err := kc.ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err == nil {
			t.Error("ListStreams after Close succeeded")
		}
	})
}

// TestDialContextOnSocket: without the virtual network DialContext reaches the loopback socket, so
// hand-built transports can use it either way.
func TestDialContextOnSocket(t *testing.T) {
	srv, _ := start(t)
	tr := &http.Transport{DialContext: srv.DialContext}
	defer tr.CloseIdleConnections()
	c := newClient(t, srv, &http.Client{Transport: tr})
	if _, err := c.ListStreams(ctxT(t), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams through DialContext: %v", err)
	}
}

func TestStreamSeeds(t *testing.T) {
	_, c := start(t, kinesistest.Stream("orders", 4), kinesistest.Stream("audit", 1))
	ctx := ctxT(t)
	for name, n := range map[string]int{"orders": 4, "audit": 1} {
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
		}
		d := sum.StreamDescriptionSummary
		if d.StreamStatus != types.StreamStatusActive || aws.ToInt32(d.OpenShardCount) != int32(n) ||
			d.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
			t.Errorf("%s: status %s, %d open shards, mode %s; want ACTIVE, %d, PROVISIONED", name, d.StreamStatus,
				aws.ToInt32(d.OpenShardCount), d.StreamModeDetails.StreamMode, n)
		}
	}
	// The same shards CreateStream makes.
	_, c2 := start(t)
	createStream(t, c2, "orders", 4)
	seeded, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	created, err := c2.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range created.Shards {
		a, b := seeded.Shards[i], created.Shards[i]
		sa := fmt.Sprint(aws.ToString(a.ShardId), aws.ToString(a.HashKeyRange.StartingHashKey), aws.ToString(a.HashKeyRange.EndingHashKey))
		sb := fmt.Sprint(aws.ToString(b.ShardId), aws.ToString(b.HashKeyRange.StartingHashKey), aws.ToString(b.HashKeyRange.EndingHashKey))
		if sa != sb {
			t.Errorf("shard %d: seeded %s, created %s", i, sa, sb)
		}
	}
}

func TestStreamSeedsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kinesistest.Option
	}{
		{"zero shards", []kinesistest.Option{kinesistest.Stream("s", 0)}},
		{"too many shards", []kinesistest.Option{kinesistest.Stream("s", 10001)}},
		{"bad name", []kinesistest.Option{kinesistest.Stream("a b", 1)}},
		{"twice", []kinesistest.Option{kinesistest.Stream("s", 1), kinesistest.Stream("s", 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := kinesistest.NewServer(tc.opts...)
			if err == nil {
				srv.Close()
				t.Fatal("NewServer succeeded")
			}
			if !errors.Is(err, kinesistest.ErrInvalidConfig) {
				t.Errorf("NewServer = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestControlShardIDAndEdit: Request.ShardID names the shard of shard-level calls (a GetRecords
// through its iterator), and Action.Edit rewrites an applied call's answer.
func TestControlShardIDAndEdit(t *testing.T) {
	srv, c := start(t, kinesistest.Stream("s", 2))
	ctx := ctxT(t)
	var mu sync.Mutex
	seen := map[string]string{}
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		mu.Lock()
		seen[req.Op] = req.ShardID()
		mu.Unlock()
		if req.Op == "GetRecords" {
			return kinesistest.Action{Edit: func(answer []byte) []byte {
				return bytes.Replace(answer, []byte(`"NextShardIterator"`), []byte(`"Removed"`), 1)
			}}, true
		}
		return kinesistest.Action{}, false
	})
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000001"),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if out.NextShardIterator != nil {
		t.Errorf("NextShardIterator = %q after Edit removed it", aws.ToString(out.NextShardIterator))
	}
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for op, want := range map[string]string{"GetShardIterator": "shardId-000000000001", "GetRecords": "shardId-000000000001", "PutRecord": ""} {
		if seen[op] != want {
			t.Errorf("%s: ShardID() = %q, want %q", op, seen[op], want)
		}
	}
}
