package fanout

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// BenchmarkPutToReceiveLatency measures the time from just before PutRecord to the Subscriber handing
// the record over (Next returning it), one record at a time, on kinesistest over TLS/h2:
//
//	go test -run '^$' -bench PutToReceiveLatency -benchtime 1000x ./internal/fanout/
//
// It reports p50-ms and p99-ms (ns/op is the same latency's mean).
func BenchmarkPutToReceiveLatency(b *testing.B) {
	e := newSocketEnv(b)
	consumer := e.stream(b, "lat", 1)
	at := newAttempts()
	sub, err := Subscribe(context.Background(), e.fan, consumer, shard0, types.StartingPosition{Type: types.ShardIteratorTypeLatest}, OnAttempt(at.hook))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	at.waitAccepted(b, 1)
	ctx := context.Background()
	lats := make([]time.Duration, 0, b.N)
	data := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		binary.BigEndian.PutUint64(data, uint64(i))
		if _, err := e.ctl.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("lat"), PartitionKey: aws.String("k"), Data: data}); err != nil {
			b.Fatal(err)
		}
		for got := false; !got; {
			ev := next(b, sub)
			for _, r := range ev.Records {
				if binary.BigEndian.Uint64(r.Data) == uint64(i) {
					got = true
				}
			}
		}
		lats = append(lats, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lats)
	q := func(p float64) float64 {
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
