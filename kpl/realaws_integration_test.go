package kpl_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// Step 6 acceptance against kinesistest's wire-level server: the behaviours of real Kinesis that
// kinesis-mock does not show.

// An AUTO stream of 8 shards: 100,000 records, none failed, each Kinesis record written once.
func TestKinesistestAutoDistribution(t *testing.T) {
	srv, kc := startServer(t)
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("auto"), ShardCount: aws.Int32(8),
		StreamModeDetails:          &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
		RecordDistributionStrategy: types.RecordDistributionStrategyAuto}); err != nil {
		t.Fatal(err)
	}
	p, err := kpl.New(kc, "auto", kpl.RateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 100_000
	delivered, failed := produce(t, p, n, 1000, 40, nil)
	if failed != 0 || len(delivered) != n {
		t.Fatalf("%d failed, %d delivered", failed, len(delivered))
	}
	st := p.Stats()
	if st.WrongShard != 0 || st.Rerouted != 0 || st.KinesisRecords != n || st.EntriesRetried != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Each Kinesis record once, spread over the shards by the server, with its own partition key.
	got := 0
	shards := map[string]int{}
	for _, r := range readStream(t, kc, "auto") {
		got++
		shards[r.shard]++
	}
	if got != n || len(shards) != 8 {
		t.Fatalf("read %d records over %d shards, want %d over 8", got, len(shards), n)
	}
	if c := srv.Calls("PutRecords"); c > n/500*2 {
		t.Fatalf("%d PutRecords calls for %d records", c, n)
	}
}

// "007" as an explicit hash key is delivered (sent canonical; the API pattern refuses it); a call of
// 500 entries that the server refuses at request level because of one entry delivers 499 and fails
// one record with a typed error.
func TestKinesistestInvalidEntries(t *testing.T) {
	srv, kc := startServer(t)
	createStream(t, kc, "bad", 2)
	p, err := kpl.New(kc, "bad", kpl.RateLimit(0), kpl.DisableAggregation(), kpl.Linger(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	res, err := p.Put(ctx, kpl.Record{PartitionKey: "k", ExplicitHashKey: "007", Data: []byte("x")})
	if err != nil {
		t.Fatalf(`explicit hash key "007": %v`, err)
	}
	if res.ShardID != "shardId-000000000000" {
		t.Fatalf(`"007" landed on %s`, res.ShardID)
	}

	srv.Control(kinesistest.RejectEntries(func(e kinesistest.PutEntry) bool { return e.PartitionKey == "poison" }))
	futs := make([]*kpl.Future, 500)
	for i := range futs {
		key := "k" + strconv.Itoa(i)
		if i == 250 {
			key = "poison"
		}
		futs[i] = p.PutAsync(ctx, kpl.Record{PartitionKey: key, Data: []byte(key)})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i, f := range futs {
		_, err := f.Wait(ctx)
		if i == 250 {
			var re *kpl.RecordError
			if !errors.Is(err, kpl.ErrInvalidRecord) || !errors.As(err, &re) || re.Code != kinesistest.CodeValidation {
				t.Fatalf("poisoned record: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		ok++
	}
	if ok != 499 {
		t.Fatalf("%d delivered, want 499", ok)
	}
}

// KMSThrottling, KMSInvalidState and ExpiredToken answered to every call for 2 s: every record is
// delivered once the fault clears.
func TestKinesistestTransientRequestErrors(t *testing.T) {
	for _, code := range []string{kinesistest.CodeKMSThrottling, kinesistest.CodeKMSInvalidState, kinesistest.CodeExpiredToken} {
		t.Run(code, func(t *testing.T) {
			srv, kc := startServer(t)
			createStream(t, kc, "kms", 2)
			until := time.Now().Add(2 * time.Second)
			srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
				if req.Op != "PutRecords" || time.Now().After(until) {
					return kinesistest.Action{}, false
				}
				return kinesistest.Action{Err: kinesistest.NewError(code)}, true
			})
			p, err := kpl.New(kc, "kms", kpl.RetryBackoff(50*time.Millisecond, 500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			delivered, failed := produce(t, p, 2000, 50, 50, nil)
			if failed != 0 {
				t.Fatalf("%d failed", failed)
			}
			verify(t, readStream(t, kc, "kms"), delivered, false)
			if !time.Now().After(until) {
				t.Fatal("delivered before the fault cleared")
			}
		})
	}
}

// The DescribeStreamSummary limit hit at start: a 10 MiB-record stream still takes a 5 MiB record
// once the describe succeeds in the background.
func TestKinesistestDescribeLimitedAtStart(t *testing.T) {
	srv, kc := startServer(t, kinesistest.EnforceLimits(), kinesistest.MaxRequestBytes(10<<20))
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("big"), ShardCount: aws.Int32(1),
		MaxRecordSizeInKiB: aws.Int32(10 << 10)}); err != nil {
		t.Fatal(err)
	}
	srv.Control(kinesistest.FailFirst("DescribeStreamSummary", 2, kinesistest.NewError(kinesistest.CodeLimitExceeded)))
	p, err := kpl.New(kc, "big", kpl.BatchMaxBytes(10<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for srv.Calls("DescribeStreamSummary") < 3 { // the third, successful, call
		time.Sleep(50 * time.Millisecond)
	}
	big := kpl.Record{PartitionKey: "k", Data: []byte(strings.Repeat("x", 5<<20))}
	if _, err := p.Put(ctx, big); err != nil {
		t.Fatalf("5 MiB record: %v", err)
	}
}

// A stable 64-shard stream: at most 2 ListShards calls per producer per minute, counted by the
// server (refreshes scaled down: every 2 s instead of every minute, over 6 s of load).
func TestKinesistestListShardsCalls(t *testing.T) {
	srv, kc := startServer(t)
	createStream(t, kc, "many", 64)
	p, err := kpl.New(kc, "many", kpl.RateLimit(0), kpl.ShardMapRefreshInterval(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	_, failed := produce(t, p, 60_000, 5000, 20, func(i int) {
		if i%1000 == 999 {
			time.Sleep(100 * time.Millisecond)
		}
	})
	elapsed := time.Since(start)
	if failed != 0 {
		t.Fatalf("%d failed", failed)
	}
	// One listing at start, then one per refresh interval (±20%): 2 per interval at most.
	if n, max := srv.Calls("ListShards"), 1+int64(elapsed/(1600*time.Millisecond)); n > max {
		t.Fatalf("%d ListShards calls in %v, want at most %d", n, elapsed, max)
	}
}

// Partition keys are counted as the service counts them: Unicode code points (the Smithy length
// trait of the API model), not UTF-16 units as the Java KPL does. 256 characters outside the Basic
// Multilingual Plane (512 UTF-16 units) are delivered; 257 fail at PutAsync.
func TestKinesistestPartitionKeyLength(t *testing.T) {
	_, kc := startServer(t, kinesistest.EnforceLimits())
	createStream(t, kc, "pk", 1)
	p, err := kpl.New(kc, "pk", kpl.DisableAggregation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{strings.Repeat("\U0001F600", 256), true},
		{strings.Repeat("\U0001F600", 129), true},
		{strings.Repeat("x", 255) + "\U0001F600", true},
		{strings.Repeat("\U0001F600", 257), false},
		{strings.Repeat("x", 256) + "\U0001F600", false},
	} {
		_, err := p.Put(ctx, kpl.Record{PartitionKey: tc.key, Data: []byte("x")})
		if tc.ok && err != nil {
			t.Errorf("%d code points: %v", len([]rune(tc.key)), err)
		}
		if !tc.ok && !errors.Is(err, kpl.ErrInvalidRecord) {
			t.Errorf("%d code points: %v, want ErrInvalidRecord", len([]rune(tc.key)), err)
		}
	}
}

// A PutRecords-only IAM policy (ListShards and DescribeStreamSummary denied, as AWS answers them:
// 400 AccessDeniedException): every record is delivered, each as its own Kinesis record.
func TestKinesistestPutRecordsOnlyPolicy(t *testing.T) {
	srv, kc := startServer(t)
	createStream(t, kc, "iam", 4)
	allow := srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op == "PutRecords" {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeAccessDenied)}, true
	})
	p, err := kpl.New(kc, "iam")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	delivered, failed := produce(t, p, 5000, 100, 40, nil)
	if failed != 0 {
		t.Fatalf("%d failed", failed)
	}
	allow() // the reader's own policy
	verify(t, readStream(t, kc, "iam"), delivered, true)
	if st := p.Stats(); st.KinesisRecords != 5000 {
		t.Fatalf("stats %+v", st)
	}
}

// A record with nil Data (kpl.Record{PartitionKey: "k"}, or an empty bytes.Buffer's Bytes()) is
// valid for Kinesis (Data of 0 to 1 MiB); the SDK refuses a nil Data member for the whole call, so
// it is sent as an empty blob.
func TestKinesistestEmptyRecord(t *testing.T) {
	_, kc := startServer(t)
	createStream(t, kc, "nil-data", 1)
	p, err := kpl.New(kc, "nil-data", kpl.DisableAggregation(), kpl.RateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Put(ctx, kpl.Record{PartitionKey: "k", Data: nil}); err != nil {
		t.Fatalf("nil Data: %v", err)
	}
}
