package aggregation_test

import (
	"errors"
	"fmt"

	"github.com/shardwise/shardwise/aggregation"
)

func Example() {
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for _, r := range []aggregation.Record{
		{PartitionKey: "sensor-1", Data: []byte("21.5")},
		{PartitionKey: "sensor-2", Data: []byte("19.0")},
		{PartitionKey: "sensor-1", Data: []byte("21.7")},
	} {
		if err := agg.Add(r); errors.Is(err, aggregation.ErrFull) {
			// Send agg.Flush(), then add r again.
		} else if err != nil {
			fmt.Println(err)
		}
	}
	rec, users, _ := agg.Flush()
	fmt.Println(rec.PartitionKey, rec.ExplicitHashKey, len(rec.Data), "bytes,", len(users), "user records")

	got, _ := aggregation.Deaggregate(rec.Data)
	for _, u := range got {
		fmt.Println(u.SubSequenceNumber, u.PartitionKey, string(u.Data))
	}
	// Output:
	// a 313621148937180024981089005635817150934 70 bytes, 3 user records
	// 0 sensor-1 21.5
	// 1 sensor-2 19.0
	// 2 sensor-1 21.7
}

func ExampleShardMap() {
	lo, _ := aggregation.ParseHashRange("0", "170141183460469231731687303715884105727")
	hi, _ := aggregation.ParseHashRange("170141183460469231731687303715884105728", "340282366920938463463374607431768211455")
	m, _ := aggregation.NewShardMap([]aggregation.ShardRange{
		{ShardID: "shardId-000000000000", Range: lo},
		{ShardID: "shardId-000000000001", Range: hi},
	})
	for _, pk := range []string{"alpha", "beta"} {
		k, _ := aggregation.EffectiveHashKey(pk, "")
		_, s, _ := m.Lookup(k)
		fmt.Println(pk, "->", s.ShardID)
	}
	// Output:
	// alpha -> shardId-000000000000
	// beta -> shardId-000000000001
}
