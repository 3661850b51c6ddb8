package kcl

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
)

// BenchmarkConvert measures the per-user-record CPU cost of the record path between GetRecords and
// ProcessRecords: MD5 check and parse of each KPL aggregate, sub-sequence numbers, the hash-range filter
// (MD5 of every partition key) and the Record slice. 100 aggregates of 500 user records (32-byte data,
// distinct partition keys, no explicit hash key) per op.
//
//	go test -run '^$' -bench BenchmarkConvert -cpu 1 ./kcl/
func BenchmarkConvert(b *testing.B) {
	var in []types.Record
	for a := range 100 {
		agg := aggregation.NewAggregator(1 << 20)
		for u := range 500 {
			if err := agg.Add(aggregation.Record{PartitionKey: fmt.Sprintf("key-%d-%d", a, u), Data: make([]byte, 32)}); err != nil {
				b.Fatal(err)
			}
		}
		r, _, err := agg.Flush()
		if err != nil {
			b.Fatal(err)
		}
		in = append(in, types.Record{SequenceNumber: aws.String(fmt.Sprintf("4960%020d", a)), PartitionKey: aws.String("a"), Data: r.Data})
	}
	dec, _ := compression.NewDecoder(0)
	c := &converter{shardID: "s", rng: aggregation.FullHashRange, hasRange: true, dec: dec, hooks: &hooks{}, log: slog.New(slog.DiscardHandler)}
	var buf []Record
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res := c.convert(in, buf)
		if len(res.records) != 50000 {
			b.Fatal(len(res.records))
		}
		buf = res.records[:0]
	}
	b.ReportMetric(float64(50000*b.N)/b.Elapsed().Seconds(), "userrecords/s")
}
