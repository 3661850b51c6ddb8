package kinesisrecord_test

import (
	"fmt"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesisrecord"
)

// The user records of a KPL aggregate read from the lower of two shards: the one whose key belongs
// to the upper shard is marked, and a consumer drops it as the Java KCL does.
func ExampleDecoder_Each() {
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	agg.Add(aggregation.Record{PartitionKey: "a", Data: []byte("first")})
	agg.Add(aggregation.Record{PartitionKey: "b", ExplicitHashKey: "340282366920938463463374607431768211455", Data: []byte("stray")})
	agg.Add(aggregation.Record{PartitionKey: "c", ExplicitHashKey: "1", Data: []byte("second")})
	rec, _, _ := agg.Flush()

	lower := aggregation.FullHashRange.Split(2)[0]
	var d kinesisrecord.Decoder
	err := d.Each(kinesisrecord.Record{Data: rec.Data, PartitionKey: rec.PartitionKey, SequenceNumber: "49600"}, &lower,
		func(u kinesisrecord.UserRecord) bool {
			fmt.Println(u.SequenceNumber, u.SubSequenceNumber, string(u.Data), "outside:", u.OutsideRange)
			return true
		})
	fmt.Println("error:", err)
	// Output:
	// 49600 0 first outside: false
	// 49600 1 stray outside: true
	// 49600 2 second outside: false
	// error: <nil>
}
