package kpl

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
)

// Tests of behaviours only the real service shows (Step 6), on kinesistest's virtual network under
// synctest. The same behaviours over real sockets, in real time, are in integration_test.go.

type distributionHook struct {
	mu     sync.Mutex
	events []DistributionEvent
}

func (h *distributionHook) OnDistributionChanged(e DistributionEvent) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *distributionHook) get() []DistributionEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]DistributionEvent(nil), h.events...)
}

// A record waiting in the buffer behind a shard that delivers, slowly, does not expire: only time
// since its first send counts.
func TestTTLWaitingBehindProgressDoesNotExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) {
			return kinesistest.Action{Delay: time.Second}, true // every call takes 1 s
		})
		p := mustNew(t, e.kc, DisableAggregation(), BatchMaxRecords(10), RecordTTL(3*time.Second), Linger(0))
		var futs []*Future
		for i := range 100 { // 10 calls, 10 s: far more than the TTL
			futs = append(futs, p.PutAsync(t.Context(), rec("k", i)))
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		if st := p.Stats(); st.RecordsExpired != 0 || st.RecordsDelivered != 100 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// When nothing gets through, sent and unsent records alike expire after RecordTTL.
func TestTTLExpiresWhenNothingGetsThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) { return failCall(codeInternalFailure) })
		const ttl = 3 * time.Second
		p := mustNew(t, e.kc, DisableAggregation(), BatchMaxRecords(10), RecordTTL(ttl), Linger(0),
			RetryBackoff(10*time.Millisecond, 200*time.Millisecond))
		time.Sleep(time.Millisecond) // the map is loaded
		start := time.Now()
		var futs []*Future
		for i := range 50 {
			futs = append(futs, p.PutAsync(t.Context(), rec("k", i)))
		}
		for i, fu := range futs {
			_, err := fu.Wait(t.Context())
			if !errors.Is(err, ErrRecordExpired) {
				t.Fatalf("record %d: %v, want ErrRecordExpired", i, err)
			}
		}
		if d := time.Since(start); d < ttl || d > ttl+time.Second {
			t.Fatalf("all expired after %v, want about %v", d, ttl)
		}
	})
}

// MaxBufferedBytes covers requests in flight: they hold at most a quarter of it (one request may
// always start) and records the other three quarters.
func TestInFlightBytesWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 16)
		release := make(chan struct{})
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) { return hold(req, release) })
		const bound = 4 << 20
		p := mustNew(t, e.kc, MaxBufferedBytes(bound), RateLimit(0), Linger(0), MaxConnections(64))
		time.Sleep(time.Millisecond)
		data := make([]byte, 1024)
		accepted := 0
		for i := 0; ; i++ {
			fu := p.TryPutAsync(t.Context(), Record{PartitionKey: strconv.Itoa(i), Data: data})
			if fu.done {
				if _, err := fu.Wait(t.Context()); errors.Is(err, ErrMaxBuffered) {
					synctest.Wait()
					if fu2 := p.TryPutAsync(t.Context(), Record{PartitionKey: "x" + strconv.Itoa(i), Data: data}); fu2.done {
						break // full even after the loop started what it could
					}
					accepted++
					continue
				}
			}
			accepted++
		}
		synctest.Wait()
		st := p.Stats()
		if st.InFlightRequests == 0 || st.InFlightBytes == 0 {
			t.Fatalf("no request in flight: %+v", st)
		}
		if st.InFlightBytes > bound/4 && st.InFlightRequests > 1 {
			t.Fatalf("in-flight requests hold %d bytes, more than a quarter of %d: %+v", st.InFlightBytes, bound, st)
		}
		if st.BufferedBytes > bound-bound/4 {
			t.Fatalf("records hold %d bytes, more than three quarters of %d: %+v", st.BufferedBytes, bound, st)
		}
		close(release)
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.RecordsDelivered != uint64(accepted) || st.InFlightBytes != 0 {
			t.Fatalf("accepted %d, stats %+v", accepted, st)
		}
	})
}

// A stable 64-shard stream costs at most two ListShards calls per minute, under load.
func TestListShardsCallsStableStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 64, kinesistest.ListShardsPageLimit(1000))
		p := mustNew(t, e.kc, RateLimit(0))
		const minutes = 5
		for i := 0; i < minutes*60*10; i++ { // 10 records a second
			p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%1000), i))
			time.Sleep(100 * time.Millisecond)
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := e.listCount(); n > 2*minutes {
			t.Fatalf("%d ListShards calls in %d minutes", n, minutes)
		}
		if st := p.Stats(); st.RecordsFailed != 0 || st.WrongShard != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A throttled DescribeStreamSummary at start does not pin a 1 MiB record size: the describe is
// retried in the background, records are judged by the stream meanwhile, and a later change of the
// stream's maximum record size is seen.
func TestDescribeRetriedInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.setMaxRecordKiB(10 << 10)
		// Three describes of the producer throttled, each after the SDK's 3 attempts.
		e.control(kinesistest.FailFirst("DescribeStreamSummary", 9, kinesistest.NewError(kinesistest.CodeLimitExceeded)))
		p := mustNew(t, e.kc, StreamDescribeInterval(time.Minute))
		big := Record{PartitionKey: "k", Data: make([]byte, 5<<20)}
		// While unknown, the stream judges: the 5 MiB record is sent, not refused.
		if _, err := p.Put(t.Context(), big); err != nil {
			t.Fatalf("5 MiB record while the size is unknown: %v", err)
		}
		time.Sleep(20 * time.Second)
		if n := e.describeCount(); n < 10 {
			t.Fatalf("%d describe calls, want retries until one succeeded", n)
		}
		if _, err := p.Put(t.Context(), big); err != nil {
			t.Fatalf("5 MiB record on a 10 MiB stream: %v", err)
		}
		e.setMaxRecordKiB(1024)
		time.Sleep(2 * time.Minute)
		if _, err := p.Put(t.Context(), big); !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("5 MiB record after the stream went to 1 MiB: %v, want ErrRecordTooLarge", err)
		}
	})
}

// An AUTO stream is detected at start: no aggregation, no wrong-shard re-sends, every record stored
// once.
func TestAutoDistributionDetectedAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 8)
		e.setAuto(true)
		var h distributionHook
		p := mustNew(t, e.kc, RateLimit(0), WithHooks(&h))
		const n = 10000
		var futs []*Future
		for i := range n {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%100), i)))
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, fu := range futs {
			res, err := fu.Wait(t.Context())
			if err != nil || res.Aggregated {
				t.Fatalf("record %d: %+v %v", i, res, err)
			}
		}
		st := p.Stats()
		if stored := e.storedCount(); st.WrongShard != 0 || st.Rerouted != 0 || st.KinesisRecords != n || stored != n {
			t.Fatalf("stored %d, stats %+v", stored, st)
		}
		if ev := h.get(); len(ev) != 1 || ev[0].Strategy != "AUTO" || ev[0].Predicting {
			t.Fatalf("events %+v", ev)
		}
	})
}

// A stream switched to AUTO at run time is detected after wrong-shard results; every record is
// delivered where a consumer keeps it.
func TestAutoDistributionSwitchedAtRunTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 4)
		var h distributionHook
		p := mustNew(t, e.kc, RateLimit(0), WithHooks(&h))
		var futs []*Future
		for i := range 20000 {
			if i == 5000 {
				e.setAuto(true)
			}
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%500), i)))
			if i%100 == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		ranges := map[string]aggregation.HashRange{}
		for _, sh := range e.shards() {
			ranges[aws.ToString(sh.ShardId)] = shardRange(e, sh)
		}
		for i, fu := range futs {
			res, err := fu.Wait(t.Context())
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if res.Aggregated && !ranges[res.ShardID].Contains(aggregation.PartitionKeyHash("k"+strconv.Itoa(i%500))) {
				t.Fatalf("record %d reported in an aggregate on %s, outside its range", i, res.ShardID)
			}
		}
		if ev := h.get(); len(ev) != 1 || ev[0].Strategy != "AUTO" {
			t.Fatalf("events %+v", ev)
		}
		before := p.Stats().WrongShard
		for i := range 2000 {
			p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i))
		}
		p.Flush(t.Context())
		if st := p.Stats(); st.WrongShard != before || st.RecordsFailed != 0 {
			t.Fatalf("after detection: stats %+v (wrong shard before %d)", st, before)
		}
	})
}

// A call Kinesis refuses at request level because of one entry is bisected: the others are
// delivered, the bad one fails alone with ErrInvalidRecord.
func TestBisectRequestLevelValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		e.control(kinesistest.RejectEntries(func(en kinesistest.PutEntry) bool { return en.PartitionKey == "bad" }))
		p := mustNew(t, e.kc, DisableAggregation(), RateLimit(0), Linger(time.Second))
		var futs []*Future
		for i := range 500 {
			key := "k" + strconv.Itoa(i)
			if i == 321 {
				key = "bad"
			}
			futs = append(futs, p.PutAsync(t.Context(), rec(key, i)))
		}
		p.Flush(t.Context())
		for i, fu := range futs {
			_, err := fu.Wait(t.Context())
			if i == 321 {
				var re *RecordError
				var api smithy.APIError
				if !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &re) || re.Code != "ValidationException" || !errors.As(err, &api) {
					t.Fatalf("bad record: %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		if n := e.storedCount(); n != 499 {
			t.Fatalf("stored %d, want 499", n)
		}
	})
}

// The 4xx that AWS documents as transient (KMS key state during rotation, expired credentials,
// clock skew) are retried until they clear.
func TestTransient4xxRetried(t *testing.T) {
	for _, code := range []string{"KMSThrottlingException", "KMSInvalidStateException", "KMSDisabledException",
		"KMSNotFoundException", "KMSAccessDeniedException", "ExpiredTokenException", "InvalidSignatureException"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 2)
				clear := time.Now().Add(2 * time.Second)
				e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) {
					if time.Now().Before(clear) {
						return failCall(code) // HTTP 400
					}
					return kinesistest.Action{}, false
				})
				p := mustNew(t, e.kc)
				var futs []*Future
				for i := range 1000 {
					futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
				}
				p.Flush(t.Context())
				for i, fu := range futs {
					if _, err := fu.Wait(t.Context()); err != nil {
						t.Fatalf("record %d: %v", i, err)
					}
				}
			})
		})
	}
}

// A zero-padded explicit hash key is sent in canonical form (Kinesis's pattern refuses "007").
func TestExplicitHashKeyCanonical(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		var mu sync.Mutex
		var got []string
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			mu.Lock()
			defer mu.Unlock()
			for _, en := range req.Entries() {
				got = append(got, en.ExplicitHashKey)
			}
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc, DisableAggregation())
		for _, ehk := range []string{"007", "0", "000", "7"} {
			if _, err := p.Put(t.Context(), Record{PartitionKey: "k", ExplicitHashKey: ehk, Data: []byte("x")}); err != nil {
				t.Fatalf("%q: %v", ehk, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(got) != "[7 0 0 7]" {
			t.Fatalf("explicit hash keys sent: %q", got)
		}
	})
}

// Wrong-shard results of calls routed by an older map than the current one trigger no refresh: the
// map they would refresh is already newer.
func TestStaleWrongShardTriggersNoRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, kinesistest.ListShardsPageLimit(1000))
		release := make(chan struct{})
		var held atomic.Bool
		held.Store(true)
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			if held.Load() {
				return hold(req, release)
			}
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc, RateLimit(0), Linger(0), ShardMapRefreshInterval(time.Second))
		time.Sleep(time.Millisecond)
		var futs []*Future
		for i := range 200 {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		synctest.Wait() // calls in flight, routed by map 1
		e.split("shardId-000000000000")
		e.split("shardId-000000000001")
		// The periodic refresh installs map 2 while the calls are held, within their 2 s attempt
		// timeout (a call the producer gave up on would be resent, not reported stale).
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		before := e.listCount()
		held.Store(false)
		close(release)
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		st := p.Stats()
		if st.WrongShard == 0 {
			t.Fatalf("no wrong-shard result: %+v", st)
		}
		if after := e.listCount(); after != before {
			t.Fatalf("ListShards calls %d -> %d after stale wrong-shard results", before, after)
		}
	})
}

// DisableShardPrediction never lists shards: every user record goes as its own Kinesis record and
// Kinesis routes it.
func TestDisableShardPrediction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 4)
		p := mustNew(t, e.kc, DisableShardPrediction(), RateLimit(0))
		var futs []*Future
		for i := range 3000 {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%300), i)))
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		ranges := map[string]aggregation.HashRange{}
		for _, sh := range e.shards() {
			ranges[aws.ToString(sh.ShardId)] = shardRange(e, sh)
		}
		for i, fu := range futs {
			res, err := fu.Wait(t.Context())
			if err != nil || res.Aggregated {
				t.Fatalf("record %d: %+v %v", i, res, err)
			}
			if !ranges[res.ShardID].Contains(aggregation.PartitionKeyHash("k" + strconv.Itoa(i%300))) {
				t.Fatalf("record %d on %s, outside its key's range", i, res.ShardID)
			}
		}
		if n := e.listCount(); n != 0 {
			t.Fatalf("%d ListShards calls", n)
		}
		if st := p.Stats(); st.KinesisRecords != 3000 || st.WrongShard != 0 {
			t.Fatalf("stats %+v", st)
		}
		checkOrder(t, e, false)
	})
}

// A PutRecords-only IAM policy: ListShards (and DescribeStreamSummary) denied. The producer sends
// without prediction, says so once, and predicts again when ListShards is allowed.
func TestListShardsDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 4)
		var denied atomic.Bool
		denied.Store(true)
		e.control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			switch {
			case req.Op == "ListShards" && denied.Load(), req.Op == "DescribeStreamSummary":
				return failCall(kinesistest.CodeAccessDenied)
			}
			return kinesistest.Action{}, false
		})
		var h distributionHook
		p := mustNew(t, e.kc, WithHooks(&h), ShardMapRefreshInterval(time.Minute))
		put := func(n int) {
			var futs []*Future
			for i := range n {
				futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%100), i)))
			}
			if err := p.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			for i, fu := range futs {
				if _, err := fu.Wait(t.Context()); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
		}
		put(2000)
		if st := p.Stats(); st.KinesisRecords != 2000 {
			t.Fatalf("without ListShards: stats %+v", st)
		}
		denied.Store(false)
		time.Sleep(2 * time.Minute)
		put(2000)
		if st := p.Stats(); st.KinesisRecords >= 4000 || st.WrongShard != 0 {
			t.Fatalf("with ListShards: no aggregation? stats %+v", st)
		}
		ev := h.get()
		if len(ev) != 2 || ev[0].Predicting || ev[0].Reason != "ListShards denied" || !ev[1].Predicting {
			t.Fatalf("events %+v", ev)
		}
	})
}
