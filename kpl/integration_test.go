package kpl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// startServer runs a kinesistest server and returns an SDK client for it.
func startServer(t testing.TB, opts ...kinesistest.Option) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	creds := aws.CredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""))
	_, bench := t.(*testing.B)
	if bench && os.Getenv("KPL_BENCH_SIGV4") == "" {
		// Benchmarks skip SigV4 and its SHA-256 of every request body (kinesistest ignores
		// signatures): that cost is the SDK's, not the producer's. KPL_BENCH_SIGV4=1 keeps it.
		creds = aws.AnonymousCredentials{}
	}
	kc := kinesis.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: creds,
		HTTPClient:  srv.Client(),
	}, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
		if bench && os.Getenv("KPL_BENCH_SIGV4") == "" {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	})
	return srv, kc
}

func createStream(t testing.TB, kc *kinesis.Client, name string, shards int32) {
	t.Helper()
	if _, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
}

// readRec is a user record read back from the stream.
type readRec struct {
	shard   string
	inRange bool // its hash key lies in the shard's range (a KCL consumer keeps it)
	key     string
	idx     int
}

// readStream reads every shard (closed ones included) from TRIM_HORIZON and returns the user
// records in stream order per shard, shards in ListShards order (parents before children).
func readStream(t testing.TB, kc *kinesis.Client, stream string) []readRec {
	t.Helper()
	ctx := context.Background()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	var all []readRec
	for _, sh := range shards {
		rng, err := aggregation.ParseHashRange(*sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
		if err != nil {
			t.Fatal(err)
		}
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			var pte *types.ProvisionedThroughputExceededException
			if errors.As(err, &pte) {
				time.Sleep(200 * time.Millisecond) // read pacing only; no assertion depends on it
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				data, _, _ := compression.Decode(r.Data)
				urs, err := aggregation.Deaggregate(data)
				if err != nil {
					t.Fatalf("deaggregate: %v", err)
				}
				for _, u := range urs {
					pk, ehk := u.PartitionKey, u.ExplicitHashKey
					if !aggregation.IsAggregated(data) {
						pk, ehk = *r.PartitionKey, "" // tests put no explicit hash keys
					}
					hk, err := aggregation.EffectiveHashKey(pk, ehk)
					if err != nil {
						t.Fatal(err)
					}
					key, idx, _ := strings.Cut(string(u.Data), ":")
					idx, _, _ = strings.Cut(idx, ":")
					n, _ := strconv.Atoi(idx)
					all = append(all, readRec{shard: *sh.ShardId, inRange: rng.Contains(hk), key: key, idx: n})
				}
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
		}
	}
	return all
}

// verify checks what a consumer would read (records in their shard's range): every delivered
// record present, per-key order of first occurrences (enforced when order is true, counted
// otherwise), and returns the duplicate count.
func verify(t testing.TB, got []readRec, delivered map[string]bool, order bool) (dups int) {
	disorder := 0
	defer func() {
		if disorder > 0 {
			t.Logf("%d records read before an earlier record of their key", disorder)
		}
	}()
	t.Helper()
	seen := map[string]int{}
	last := map[string]int{}
	for _, r := range got {
		if !r.inRange {
			continue
		}
		id := r.key + ":" + strconv.Itoa(r.idx)
		seen[id]++
		if seen[id] > 1 {
			dups++
			continue
		}
		if l, ok := last[r.key]; ok && r.idx < l {
			disorder++
			if order {
				t.Errorf("key %s: record %d read after %d", r.key, r.idx, l)
			}
		}
		last[r.key] = max(last[r.key], r.idx)
	}
	for id := range delivered {
		if seen[id] == 0 {
			t.Errorf("record %s reported delivered but not readable in the stream", id)
		}
	}
	return dups
}

// produce puts n records over nkeys keys (record i has key k(i%nkeys) and data "k:i:padding"),
// calling between(i) before record i, and returns the delivered set and the failures.
func produce(t testing.TB, p *kpl.Producer, n, nkeys, size int, between func(i int)) (map[string]bool, int) {
	t.Helper()
	ctx := context.Background()
	futs := make([]*kpl.Future, n)
	ids := make([]string, n)
	pad := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		if between != nil {
			between(i)
		}
		key := "k" + strconv.Itoa(i%nkeys)
		ids[i] = key + ":" + strconv.Itoa(i)
		data := []byte(ids[i] + ":" + pad)
		if len(data) > size {
			data = data[:max(size, len(ids[i])+1)]
		}
		futs[i] = p.PutAsync(ctx, kpl.Record{PartitionKey: key, Data: data})
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("Flush: %v (stats %+v)", err, p.Stats())
	}
	delivered := map[string]bool{}
	failed := 0
	for i, f := range futs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future %d unresolved after Flush", i)
		}
		if _, err := f.Wait(ctx); err != nil {
			failed++
			if failed <= 5 {
				t.Logf("record %s failed: %v", ids[i], err)
			}
			continue
		}
		delivered[ids[i]] = true
	}
	return delivered, failed
}

func TestKinesistestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("volume test")
	}
	n := 200_000
	if raceEnabled {
		n = 40_000
	}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			_, kc := startServer(t, kinesistest.EnforceLimits())
			createStream(t, kc, "s", 4)
			opts := []kpl.Option{}
			if strict {
				opts = append(opts, kpl.StrictOrdering())
			}
			p, err := kpl.New(kc, "s", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			start := time.Now()
			delivered, failed := produce(t, p, n, 1000, 100, nil)
			el := time.Since(start)
			st := p.Stats()
			t.Logf("%d records in %v (%.0f/s); stats %+v", n, el, float64(n)/el.Seconds(), st)
			if failed != 0 || len(delivered) != n {
				t.Fatalf("%d failed, %d delivered of %d", failed, len(delivered), n)
			}
			got := readStream(t, kc, "s")
			// Without retries order holds in either mode; with throttling retries only StrictOrdering promises it.
			dups := verify(t, got, delivered, strict || st.EntriesRetried == 0)
			if uint64(dups) > st.AmbiguousRecords {
				t.Fatalf("%d duplicates, only %d records had an unknown outcome", dups, st.AmbiguousRecords)
			}
		})
	}
}

func TestKinesistestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("volume test")
	}
	_, kc := startServer(t, kinesistest.EnforceLimits(),
		kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.2, SlowDelay: 100 * time.Millisecond, Seed: 7}))
	createStream(t, kc, "s", 4)
	p, err := kpl.New(kc, "s", kpl.StrictOrdering(), kpl.RecordTTL(2*time.Minute), kpl.RequestTimeout(2*time.Second),
		kpl.RetryBackoff(10*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := 30_000
	delivered, failed := produce(t, p, n, 200, 100, nil)
	st := p.Stats()
	t.Logf("delivered %d, failed %d; stats %+v", len(delivered), failed, st)
	got := readStream(t, kc, "s")
	dups := verify(t, got, delivered, true)
	t.Logf("duplicates in the stream: %d (records resent after an unknown outcome: %d)", dups, st.AmbiguousRecords)
	if uint64(dups) > st.AmbiguousRecords {
		t.Fatalf("%d duplicates but only %d records had an unknown outcome", dups, st.AmbiguousRecords)
	}
	if st.AmbiguousRecords == 0 || st.EntriesRetried == 0 {
		t.Fatalf("faults were not exercised: %+v", st)
	}
	if len(delivered)+failed != n {
		t.Fatalf("%d + %d != %d", len(delivered), failed, n)
	}
}

func TestKinesistestReshard(t *testing.T) {
	if testing.Short() {
		t.Skip("volume test")
	}
	_, kc := startServer(t)
	createStream(t, kc, "s", 2)
	p, err := kpl.New(kc, "s", kpl.ShardMapRefreshInterval(time.Hour), kpl.Linger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	var once sync.Once
	shardIDs := func() []types.Shard {
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Shards
	}
	n := 40_000
	delivered, failed := produce(t, p, n, 5000, 50, func(i int) {
		switch i {
		case n / 3:
			once.Do(func() {
				p.Flush(ctx)
				sh := shardIDs()[0]
				start, _ := aggregation.ParseHashKey(*sh.HashKeyRange.StartingHashKey)
				end, _ := aggregation.ParseHashKey(*sh.HashKeyRange.EndingHashKey)
				shi, _ := start.Uint64s()
				ehi, _ := end.Uint64s()
				mid := aggregation.HashKeyFromUint64s(shi+(ehi-shi)/2, 0)
				if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"),
					ShardToSplit: sh.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
					t.Fatal(err)
				}
			})
		case 2 * n / 3:
			p.Flush(ctx)
			open := shardIDs()
			// Merge the last two adjacent open shards.
			a, b := open[len(open)-2], open[len(open)-1]
			if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"),
				ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId}); err != nil {
				t.Fatal(err)
			}
		}
	})
	st := p.Stats()
	t.Logf("stats %+v", st)
	if failed != 0 || len(delivered) != n {
		t.Fatalf("%d failed, %d delivered of %d", failed, len(delivered), n)
	}
	if st.WrongShard == 0 || st.Rerouted == 0 {
		t.Fatalf("resharding did not exercise the wrong-shard path: %+v", st)
	}
	got := readStream(t, kc, "s")
	outside := 0
	for _, r := range got {
		if !r.inRange {
			outside++
		}
	}
	t.Logf("%d user record copies lie outside their shard's range (inside aggregates that landed on a child; consumers drop them and the producer resent them)", outside)
	verify(t, got, delivered, false)
}

// TestKinesistestReshardStrictOrder reshards a stream (splits and merges, without flushing first)
// while a StrictOrdering producer keeps putting, and reads it back as a KCL consumer does: every
// key's records must be read in put order.
func TestKinesistestReshardStrictOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("volume test")
	}
	_, kc := startServer(t)
	createStream(t, kc, "s", 2)
	p, err := kpl.New(kc, "s", kpl.StrictOrdering(), kpl.ShardMapRefreshInterval(100*time.Millisecond),
		kpl.Linger(2*time.Millisecond), kpl.AggregationMaxCount(50))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	open := func() []types.Shard {
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(out.Shards, func(i, j int) bool { // by hash range: neighbours can merge
			a, _ := aggregation.ParseHashKey(*out.Shards[i].HashKeyRange.StartingHashKey)
			b, _ := aggregation.ParseHashKey(*out.Shards[j].HashKeyRange.StartingHashKey)
			return a.Compare(b) < 0
		})
		return out.Shards
	}
	n := 60_000
	reshards := 0
	delivered, failed := produce(t, p, n, 300, 40, func(i int) {
		if i == 0 || i%3000 != 0 {
			return
		}
		reshards++
		sh := open()
		if reshards%3 == 0 && len(sh) > 1 {
			a, b := sh[0], sh[1]
			if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"),
				ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId}); err != nil {
				t.Fatal(err)
			}
			return
		}
		s := sh[i/3000%len(sh)]
		start, _ := aggregation.ParseHashKey(*s.HashKeyRange.StartingHashKey)
		end, _ := aggregation.ParseHashKey(*s.HashKeyRange.EndingHashKey)
		shi, _ := start.Uint64s()
		ehi, _ := end.Uint64s()
		mid := aggregation.HashKeyFromUint64s(shi+(ehi-shi)/2, 0)
		if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"),
			ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
			t.Fatal(err)
		}
	})
	st := p.Stats()
	t.Logf("%d reshards; stats %+v", reshards, st)
	if failed != 0 || len(delivered) != n {
		t.Fatalf("%d failed, %d delivered of %d", failed, len(delivered), n)
	}
	if st.WrongShard == 0 {
		t.Fatalf("resharding did not exercise the wrong-shard path: %+v", st)
	}
	verify(t, readStream(t, kc, "s"), delivered, true)
}
