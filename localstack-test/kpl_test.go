package localstack_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/kpl"
)

// TestKPLAgainstKinesisMock runs the producer against kinesis-mock: aggregated, unaggregated and
// compressed records, addressed by name and by ARN, read back with GetRecords: every record the
// producer reported delivered is in the reported shard, in that shard's range, in per-key order.
func TestKPLAgainstKinesisMock(t *testing.T) {
	kc := testenv.Kinesis(t)
	ctx := testenv.Context(t, 2*time.Minute)
	stream := testenv.CreateStream(t, ctx, 2)
	arn := testenv.StreamARN(t, ctx, kc, stream)

	configs := []struct {
		name   string
		target string
		opts   []kpl.Option
	}{
		{"aggregated", stream, nil},
		{"unaggregated-arn", arn, []kpl.Option{kpl.DisableAggregation()}},
		{"zstd-strict", stream, []kpl.Option{kpl.CompressZstd(), kpl.StrictOrdering()}},
	}
	type sent struct {
		shard string
		key   string
	}
	want := map[string]sent{}
	for ci, c := range configs {
		p, err := kpl.New(kc, c.target, append(c.opts, kpl.Linger(20*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		var futs []*kpl.Future
		var ids []string
		for i := 0; i < 150; i++ {
			key := "key-" + strconv.Itoa(i%7)
			id := fmt.Sprintf("%s:%d:%d", key, ci, i)
			ids = append(ids, id)
			data := []byte(id + ":" + strings.Repeat(`{"field":"value"}`, 20))
			futs = append(futs, p.PutAsync(ctx, kpl.Record{PartitionKey: key, Data: data}))
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatalf("%s: Flush: %v", c.name, err)
		}
		for i, f := range futs {
			res, err := f.Wait(ctx)
			if err != nil {
				t.Fatalf("%s: record %d: %v", c.name, i, err)
			}
			want[ids[i]] = sent{shard: res.ShardID, key: "key-" + strconv.Itoa(i%7)}
		}
		st := p.Stats()
		t.Logf("%s: %+v", c.name, st)
		if st.RecordsDelivered != 150 || st.OpenShards != 2 {
			t.Fatalf("%s: stats %+v", c.name, st)
		}
		p.Close()
	}

	got := map[string]string{}
	last := map[string]int{}
	for _, sh := range testenv.Shards(t, ctx, kc, stream) {
		rng, err := aggregation.ParseHashRange(*sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
		if err != nil {
			t.Fatal(err)
		}
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			data, _, err := compression.Decode(r.Data)
			if err != nil {
				t.Fatalf("corrupt frame: %v", err)
			}
			urs, err := aggregation.Deaggregate(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range urs {
				pk := u.PartitionKey
				if !aggregation.IsAggregated(data) {
					pk = *r.PartitionKey
				}
				hk, _ := aggregation.EffectiveHashKey(pk, "")
				if !rng.Contains(hk) {
					t.Errorf("record with key %s outside shard %s", pk, *sh.ShardId)
				}
				parts := strings.SplitN(string(u.Data), ":", 4)
				id := parts[0] + ":" + parts[1] + ":" + parts[2]
				got[id] = *sh.ShardId
				ci, _ := strconv.Atoi(parts[1])
				i, _ := strconv.Atoi(parts[2])
				seq := ci*10000 + i // producers ran one after another
				if seq < last[parts[0]] {
					t.Errorf("key %s out of order: %s", parts[0], id)
				}
				last[parts[0]] = seq
			}
		}
	}
	for id, s := range want {
		if got[id] != s.shard {
			t.Errorf("record %s: reported on %s, read from %q", id, s.shard, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d", len(got), len(want))
	}
}
