package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
)

// TestTailAutoStreamKeepsEverySubRecord: on a stream with the AUTO record distribution the server
// places records whatever their keys, so kcl filters no sub-record by hash range; tail, which shares
// kcl's record view, prints them all too (it used to drop those whose key lies in the other shard).
func TestTailAutoStreamKeepsEverySubRecord(t *testing.T) {
	for _, efo := range []bool{false, true} {
		t.Run(fmt.Sprint("efo=", efo), func(t *testing.T) {
			kc := newTestKinesis(t)
			if efo {
				kc = newTestKinesisTLS(t)
			}
			ctx := testCtx(t)
			if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("auto"), ShardCount: aws.Int32(2),
				StreamModeDetails:          &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
				RecordDistributionStrategy: types.RecordDistributionStrategyAuto}); err != nil {
				t.Fatal(err)
			}
			agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
			for i, k := range []string{keyInHalf(t, false), keyInHalf(t, true), keyInHalf(t, false), keyInHalf(t, true)} {
				if err := agg.Add(aggregation.Record{PartitionKey: k, Data: fmt.Appendf(nil, "sub-%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			rec, _, err := agg.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("auto"), PartitionKey: aws.String(rec.PartitionKey),
				ExplicitHashKey: aws.String(rec.ExplicitHashKey), Data: rec.Data}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := tailConfig{from: "trim-horizon", idleTimeout: 2 * time.Second, format: "raw", pollInterval: minPollInterval}
			var n int
			if efo {
				n, err = tailEFO(ctx, kc, "auto", "tail-test", cfg, &out)
			} else {
				n, err = tailStream(ctx, kc, "auto", cfg, &out)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(out.String()); n != 4 || strings.Join(got, " ") != "sub-0 sub-1 sub-2 sub-3" {
				t.Errorf("tail printed %d records %v, want all four sub-records", n, got)
			}
		})
	}
}
