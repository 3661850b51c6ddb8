package kpl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesistest"
)

var _ KinesisAPI = (*kinesis.Client)(nil)

func mustNew(t *testing.T, f KinesisAPI, opts ...Option) *Producer {
	t.Helper()
	p, err := New(f, "s", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func rec(key string, i int) Record {
	return Record{PartitionKey: key, Data: []byte(key + ":" + strconv.Itoa(i))}
}

// checkOrder verifies that, per partition key, user records appear in increasing index order in
// the stream (duplicates allowed when dups is true), and returns how many distinct records it saw.
func checkOrder(t *testing.T, e *env, dups bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	last := map[string]int{}
	ranges := map[string]aggregation.HashRange{}
	for _, sh := range e.shards() {
		ranges[aws.ToString(sh.ShardId)] = shardRange(e, sh)
	}
	for shard, urs := range e.userRecords() {
		rng := ranges[shard]
		for _, u := range urs {
			hk, _ := aggregation.EffectiveHashKey(u.PartitionKey, u.ExplicitHashKey)
			if !rng.Contains(hk) {
				t.Errorf("record %s lies outside shard %s", u.Data, shard)
			}
			key, idx, _ := strings.Cut(string(u.Data), ":")
			i, _ := strconv.Atoi(idx)
			seen[string(u.Data)]++
			if l, ok := last[key]; ok && i <= l && !(dups && i == l) {
				if !dups || seen[string(u.Data)] == 1 {
					t.Errorf("key %s: record %d after %d", key, i, l)
				}
			}
			if i > last[key] || last[key] == 0 {
				last[key] = max(i, last[key])
			}
		}
	}
	return seen
}

func TestDeliverAggregatedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 4)
		var attemptsHeaders sync.Map
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			attemptsHeaders.Store(req.Header.Get("Amz-Sdk-Request"), true)
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc)
		var futs []*Future
		for i := 1; i <= 2000; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%13), i)))
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i, fu := range futs {
			res, err := fu.Wait(t.Context())
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if res.ShardID == "" || res.SequenceNumber == "" || len(res.Attempts) != 1 {
				t.Fatalf("record %d: result %+v", i, res)
			}
		}
		seen := checkOrder(t, e, false)
		if len(seen) != 2000 {
			t.Fatalf("stream holds %d distinct records, want 2000", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("%s stored %d times", k, n)
			}
		}
		st := p.Stats()
		if st.RecordsDelivered != 2000 || st.BufferedRecords != 0 || st.KinesisRecords >= 2000 {
			t.Fatalf("stats %+v", st)
		}
		// The SDK tries each PutRecords once: the producer retries itself.
		attemptsHeaders.Range(func(h, _ any) bool {
			if !strings.HasSuffix(h.(string), "; max=1") {
				t.Errorf("PutRecords sent with amz-sdk-request %q, want max=1", h)
			}
			return true
		})
	})
}

func TestLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p := mustNew(t, e.kc, Linger(100*time.Millisecond))
		time.Sleep(time.Millisecond) // let the map load (virtual time)
		start := time.Now()
		fu := p.PutAsync(t.Context(), rec("a", 1))
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if e.callCount() != 0 {
			t.Fatalf("sent after %v, before linger", time.Since(start))
		}
		if _, err := fu.Wait(t.Context()); err != nil {
			var re *RecordError
			errors.As(err, &re)
			t.Fatalf("%v %+v at %v", err, re, time.Since(start))
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("delivered after %v, want 100ms", d)
		}
		// Put skips linger.
		start = time.Now()
		if _, err := p.Put(t.Context(), rec("a", 2)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Put took %v, want 0", d)
		}
	})
}

func TestTTLExpiryWithAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(int, kinesistest.PutEntry) string { return codeThroughputExceeded })
		})
		p := mustNew(t, e.kc, RecordTTL(5*time.Second))
		start := time.Now()
		_, err := p.PutAsync(t.Context(), rec("a", 1)).Wait(t.Context())
		if !errors.Is(err, ErrRecordExpired) {
			t.Fatalf("err = %v, want ErrRecordExpired", err)
		}
		var re *RecordError
		if !errors.As(err, &re) || re.Code != codeThroughputExceeded || len(re.Attempts) < 3 || re.ShardID == "" {
			t.Fatalf("RecordError = %+v", re)
		}
		if d := time.Since(start); d < 5*time.Second || d > 6*time.Second {
			t.Fatalf("expired after %v, want ~5s", d)
		}
		// Backoff grows: gaps between attempts are not all equal and stay within the policy.
		for i := 1; i < len(re.Attempts); i++ {
			gap := re.Attempts[i].Time.Sub(re.Attempts[i-1].Time)
			if gap < 50*time.Millisecond || gap > 5*time.Second {
				t.Fatalf("attempt gap %d = %v", i, gap)
			}
		}
		if st := p.Stats(); st.RecordsExpired != 1 || st.EntriesThrottled < 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestHugeTTLNoOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(int, kinesistest.PutEntry) string {
				if call < 40 { // one record, one entry per call
					return codeInternalFailure
				}
				return ""
			})
		})
		p := mustNew(t, e.kc, RecordTTL(time.Duration(1<<63-1)), RetryBackoff(time.Millisecond, time.Second))
		res, err := p.Put(t.Context(), rec("a", 1))
		if err != nil || len(res.Attempts) != 41 {
			t.Fatalf("Put = %d attempts, %v", len(res.Attempts), err)
		}
	})
}

func TestRetryOnlyFailedEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.recordEntries()
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(i int, _ kinesistest.PutEntry) string {
				if call == 0 && i == 1 {
					return codeInternalFailure
				}
				return ""
			})
		})
		p := mustNew(t, e.kc, DisableAggregation())
		time.Sleep(time.Millisecond)
		var futs []*Future
		for i := 0; i < 3; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		p.Flush(t.Context())
		if got := e.entryCounts(); fmt.Sprint(got) != "[3 1]" {
			t.Fatalf("entries per call = %v, want [3 1]", got)
		}
		res, err := futs[1].Wait(t.Context())
		if err != nil || len(res.Attempts) != 2 || res.Attempts[0].Code != codeInternalFailure {
			t.Fatalf("retried record: %+v %v", res, err)
		}
		if d := res.Attempts[1].Time.Sub(res.Attempts[0].Time); d < 50*time.Millisecond {
			t.Fatalf("retry after %v: no backoff", d)
		}
	})
}

func TestTerminalAndThrottleErrors(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		opts    []Option
		want    error
		wantTry int
	}{
		// Like the Java KPL, every failed entry is retried until RecordTTL, whatever its code.
		{"unknown entry code", "SomeEntryCode", nil, ErrRecordExpired, 0},
		{"fail if throttled", codeThroughputExceeded, []Option{FailIfThrottled()}, ErrThrottled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 1)
				e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
					return failEntries(req, func(int, kinesistest.PutEntry) string { return tt.code })
				})
				p := mustNew(t, e.kc, tt.opts...)
				_, err := p.Put(t.Context(), rec("a", 1))
				var re *RecordError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *RecordError", err)
				}
				tries := len(re.Attempts)
				if tt.wantTry == 0 && tries > 1 {
					tries = 0 // retried: any number of attempts
				}
				if !errors.Is(err, tt.want) || re.Code != tt.code || tries != tt.wantTry {
					t.Fatalf("err = %v (%+v), want %v", err, re, tt.want)
				}
			})
		})
	}
}

func TestRequestErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		remove := e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			switch call {
			case 0:
				return kinesistest.Action{Drop: true}, true // a connection reset, nothing written
			case 1:
				return failCall(codeInternalFailure) // HTTP 500
			}
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc)
		res, err := p.Put(t.Context(), rec("a", 1))
		if err != nil || len(res.Attempts) != 3 {
			t.Fatalf("Put = %+v, %v", res, err)
		}
		if st := p.Stats(); st.AmbiguousRecords != 2 || st.EntriesRetried != 2 {
			t.Fatalf("stats %+v", st)
		}
		remove()
		e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) { return failCall(codeResourceNotFound) })
		_, err = p.Put(t.Context(), rec("a", 2))
		var re *RecordError
		if !errors.As(err, &re) || re.Code != codeResourceNotFound {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestInvalidInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1) // the stream's maximum record size: 1 MiB, partition key counted
		p := mustNew(t, e.kc)
		tests := []struct {
			name string
			r    Record
			want error
		}{
			{"empty key", Record{Data: []byte("x")}, aggregation.ErrInvalidPartitionKey},
			{"long key", Record{PartitionKey: strings.Repeat("x", 257)}, ErrInvalidRecord},
			{"bad hash key", Record{PartitionKey: "a", ExplicitHashKey: "-1"}, aggregation.ErrInvalidHashKey},
			{"hash key too big", Record{PartitionKey: "a", ExplicitHashKey: "340282366920938463463374607431768211456"}, ErrInvalidRecord},
			{"too large", Record{PartitionKey: "a", Data: make([]byte, 1<<20)}, ErrRecordTooLarge},
		}
		for _, tt := range tests {
			_, err := p.Put(t.Context(), tt.r)
			var re *RecordError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
		}
		if _, err := p.Put(t.Context(), Record{PartitionKey: "a", Data: make([]byte, 1<<20-1)}); err != nil {
			t.Fatalf("max-size record: %v", err)
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	f := newEnv(t, 1).kc
	for _, o := range []Option{AggregationMaxSize(10), BatchMaxRecords(501), BatchMaxBytes(11 << 20), Linger(-1),
		RateLimit(-1), MaxConnections(0), MaxBufferedRecords(0), WithLogger(nil), WithHooks(42), RecordTTL(-1)} {
		if _, err := New(f, "s", o); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%#v) err = %v, want ErrInvalidConfig", o, err)
		}
	}
	if _, err := New(nil, "s"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(nil) err = %v", err)
	}
}

func TestCloseFailsBuffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		p, err := New(e.kc, "s", Linger(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		futs := []*Future{p.PutAsync(t.Context(), rec("a", 1)), p.PutAsync(t.Context(), rec("b", 2))}
		p.Close()
		p.Close() // idempotent
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); !errors.Is(err, ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		}
		if _, err := p.Put(t.Context(), rec("c", 3)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Put after Close: %v", err)
		}
		if e.callCount() != 0 {
			t.Fatalf("%d calls", e.callCount())
		}
	})
}

func TestCloseWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		release := make(chan struct{})
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) { return hold(req, release) })
		p, _ := New(e.kc, "s")
		fu := p.PutAsync(t.Context(), rec("a", 1))
		p.Flush(ctxTimeout(t, 200*time.Millisecond))
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned with a call in flight")
		default:
		}
		close(release)
		<-closed
		if _, err := fu.Wait(t.Context()); err != nil {
			t.Fatalf("in-flight record: %v", err)
		}
	})
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		release := make(chan struct{})
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) { return hold(req, release) })
		p := mustNew(t, e.kc, MaxBufferedRecords(3), MaxBufferedBytes(1<<20))
		for i := 0; i < 3; i++ {
			p.PutAsync(t.Context(), rec("a", i))
		}
		if _, err := p.TryPutAsync(t.Context(), rec("a", 9)).Wait(t.Context()); !errors.Is(err, ErrMaxBuffered) {
			t.Fatalf("TryPutAsync: %v, want ErrMaxBuffered", err)
		}
		ctx := ctxTimeout(t, time.Second)
		start := time.Now()
		if _, err := p.PutAsync(ctx, rec("a", 10)).Wait(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PutAsync on full buffer: %v", err)
		}
		if time.Since(start) != time.Second {
			t.Fatalf("waited %v", time.Since(start))
		}
		if st := p.Stats(); st.BufferedRecords != 3 {
			t.Fatalf("buffered %d", st.BufferedRecords)
		}
		// Space frees up: a waiting PutAsync proceeds.
		got := make(chan *Future)
		go func() { got <- p.PutAsync(t.Context(), rec("a", 11)) }()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("PutAsync returned while the buffer was full")
		default:
		}
		close(release)
		if _, err := (<-got).Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelBeforeSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p := mustNew(t, e.kc)
		ctx, cancel := context.WithCancel(t.Context())
		a := p.PutAsync(ctx, rec("a", 1))
		b := p.PutAsync(t.Context(), rec("a", 2))
		cancel()
		if _, err := a.Wait(t.Context()); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled record: %v", err)
		}
		if _, err := b.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(e.userRecords()["shardId-000000000000"]); n != 1 {
			t.Fatalf("stream holds %d records, want 1", n)
		}
	})
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		p := mustNew(t, e.kc, RateLimit(100))
		data := make([]byte, 100<<10)
		start := time.Now()
		var futs []*Future
		for i := 0; i < 40; i++ { // 4 MB to one shard at 1 MiB/s: ~3 s after a 1 s burst
			futs = append(futs, p.PutAsync(t.Context(), Record{PartitionKey: "same", Data: data}))
		}
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < 2500*time.Millisecond || d > 4*time.Second {
			t.Fatalf("4 MB at 1 MiB/s took %v", d)
		}
		// Records per second: 2500 unaggregated records at 1000/s take ~1.5 s after the burst.
		p2 := mustNew(t, e.kc, RateLimit(100), DisableAggregation())
		start = time.Now()
		futs = futs[:0]
		for i := 0; i < 2500; i++ {
			futs = append(futs, p2.PutAsync(t.Context(), rec("same", i)))
		}
		for _, fu := range futs {
			fu.Wait(t.Context())
		}
		if d := time.Since(start); d < 1400*time.Millisecond || d > 2*time.Second {
			t.Fatalf("2500 records at 1000/s took %v", d)
		}
	})
}

func TestThrottleSlowsShard(t *testing.T) {
	var b tokenBucket
	now := time.Now()
	b.init(150, now)
	b.throttled(now)
	b.throttled(now)
	if b.factor >= 0.75 || b.bytes > 0 || b.allow(now, 1) {
		t.Fatalf("after throttles factor %v bytes %v", b.factor, b.bytes)
	}
	// Recovery is paced by time, not by the number of calls.
	for i := 0; i < 100; i++ {
		b.succeeded(now)
	}
	if b.factor >= 0.75 {
		t.Fatalf("factor %v grew without time passing", b.factor)
	}
	b.succeeded(now.Add(time.Second))
	if f := b.factor; f < 0.76 || f > 0.78 {
		t.Fatalf("factor %v after 1 s, want 0.7225+0.05", f)
	}
	b.succeeded(now.Add(time.Minute))
	if b.factor != 1 {
		t.Fatalf("factor %v after a minute", b.factor)
	}
}

func TestWrongShardResendsOutsideRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p := mustNew(t, e.kc, ShardMapRefreshInterval(time.Hour))
		time.Sleep(time.Millisecond)    // map with one shard loaded
		e.split("shardId-000000000000") // the producer's map is now stale
		var futs []*Future
		for i := 1; i <= 200; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		ranges := map[string]aggregation.HashRange{}
		for _, sh := range e.shards() {
			ranges[aws.ToString(sh.ShardId)] = shardRange(e, sh)
		}
		for i, fu := range futs {
			res, err := fu.Wait(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			hk, _ := aggregation.EffectiveHashKey("k"+strconv.Itoa(i+1), "")
			if !ranges[res.ShardID].Contains(hk) {
				t.Fatalf("record %d reported on shard %s outside its range", i+1, res.ShardID)
			}
		}
		st := p.Stats()
		if st.WrongShard == 0 || st.Rerouted == 0 || st.ShardMapRefreshes < 2 {
			t.Fatalf("stats %+v", st)
		}
		// Every delivered record is in a shard whose range holds it (the aggregates that landed
		// wrong still hold their outside records, but those were resent and found again).
		got := map[string]bool{}
		for shard, urs := range e.userRecords() {
			for _, u := range urs {
				hk, _ := aggregation.EffectiveHashKey(u.PartitionKey, "")
				if ranges[shard].Contains(hk) {
					got[string(u.Data)] = true
				}
			}
		}
		if len(got) != 200 {
			t.Fatalf("%d records readable in range, want 200", len(got))
		}
	})
}

func TestStrictOrderingUnderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3)
		e.recordEntries()
		var mu sync.Mutex
		n := 0
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			mu.Lock()
			defer mu.Unlock()
			return failEntries(req, func(int, kinesistest.PutEntry) string {
				n++
				if n%3 == 0 {
					return codeInternalFailure
				}
				return ""
			})
		})
		p := mustNew(t, e.kc, StrictOrdering(), AggregationMaxCount(7), RetryBackoff(time.Millisecond, 10*time.Millisecond))
		var futs []*Future
		for i := 1; i <= 3000; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%17), i)))
		}
		for _, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		seen := checkOrder(t, e, false)
		if len(seen) != 3000 {
			t.Fatalf("%d records", len(seen))
		}
		for _, n := range e.entryCounts() {
			if n > 3 {
				t.Fatalf("a call carried %d entries for 3 shards under StrictOrdering", n)
			}
		}
	})
}

type countHook struct {
	buffered, done, kinesis, puts, entryErrs, maps int
	otherStream                                    int // events not naming the stream "s"
}

func (h *countHook) stream(s string) {
	if s != "s" {
		h.otherStream++
	}
}
func (h *countHook) OnRecordBuffered(e RecordBufferedEvent)  { h.stream(e.Stream); h.buffered++ }
func (h *countHook) OnRecordDone(e RecordDoneEvent)          { h.stream(e.Stream); h.done++ }
func (h *countHook) OnKinesisRecordPut(e KinesisRecordEvent) { h.stream(e.Stream); h.kinesis++ }
func (h *countHook) OnPutRecords(e PutRecordsEvent)          { h.stream(e.Stream); h.puts++ }
func (h *countHook) OnEntryError(e EntryErrorEvent)          { h.stream(e.Stream); h.entryErrs++ }
func (h *countHook) OnShardMapRefreshed(e ShardMapEvent)     { h.stream(e.Stream); h.maps++ }

func TestHooksAndCompression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(int, kinesistest.PutEntry) string {
				if call == 0 {
					return codeThroughputExceeded
				}
				return ""
			})
		})
		h := &countHook{}
		p := mustNew(t, e.kc, WithHooks(h), CompressZstd())
		payload := bytes.Repeat([]byte(`{"level":"info","msg":"hello"}`), 10)
		for i := 0; i < 50; i++ {
			p.PutAsync(t.Context(), Record{PartitionKey: fmt.Sprint(i), Data: payload})
		}
		p.Flush(t.Context())
		p.Close()
		if h.buffered != 50 || h.done != 50 || h.kinesis != 1 || h.puts != 2 || h.entryErrs != 1 || h.maps < 1 || h.otherStream != 0 {
			t.Fatalf("hooks %+v", h)
		}
		data := e.stored()[0].records[0].Data
		if !compression.IsFramed(data) {
			t.Fatal("payload not compressed")
		}
		raw, ok, err := compression.Decode(data)
		if !ok || err != nil {
			t.Fatal(err)
		}
		urs, err := aggregation.Deaggregate(raw)
		if err != nil || len(urs) != 50 || !bytes.Equal(urs[49].Data, payload) {
			t.Fatalf("deaggregated %d, %v", len(urs), err)
		}
	})
}

func TestStreamARNAndPagination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 5) // 3 pages of 2
		arn := "arn:aws:kinesis:us-east-1:000000000000:stream/s"
		p, err := New(e.kc, arn)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Put(t.Context(), rec("a", 1)); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.OpenShards != 5 || e.listCount() != 3 {
			t.Fatalf("open shards %d after %d ListShards calls, want 5 after 3", st.OpenShards, e.listCount())
		}
	})
}

func TestFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		p := mustNew(t, e.kc, Linger(time.Hour))
		if err := p.Flush(t.Context()); err != nil { // nothing buffered
			t.Fatal(err)
		}
		start := time.Now()
		fu := p.PutAsync(t.Context(), rec("a", 1))
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("Flush waited %v: linger not skipped", time.Since(start))
		}
		if _, err := fu.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		// A Flush that cannot finish returns the context's error.
		e.onPut(func(_ int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(int, kinesistest.PutEntry) string { return codeInternalFailure })
		})
		p.PutAsync(t.Context(), rec("a", 2))
		if err := p.Flush(ctxTimeout(t, time.Second)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush = %v, want DeadlineExceeded", err)
		}
	})
}

type doneEvents struct{ events []RecordDoneEvent }

func (d *doneEvents) OnRecordDone(e RecordDoneEvent) { d.events = append(d.events, e) }

func TestRecordDoneEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(int, kinesistest.PutEntry) string {
				if call == 0 {
					return codeThroughputExceeded
				}
				return ""
			})
		})
		h := &doneEvents{}
		p := mustNew(t, e.kc, WithHooks(h), Linger(50*time.Millisecond))
		time.Sleep(time.Millisecond)
		if _, err := p.PutAsync(t.Context(), rec("a", 1)).Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.Close()
		if len(h.events) != 1 {
			t.Fatalf("%d events", len(h.events))
		}
		ev := h.events[0]
		if ev.Attempts != 2 || ev.BufferingTime != 50*time.Millisecond || ev.Latency < ev.BufferingTime || ev.Err != nil || ev.ShardID == "" {
			t.Fatalf("event %+v", ev)
		}
	})
}

func TestStrictOneCallPerShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.recordEntries()
		var mu sync.Mutex
		var inflight, peak int
		e.onPut(func(int, kinesistest.Request) (kinesistest.Action, bool) {
			mu.Lock()
			inflight++
			peak = max(peak, inflight)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // the call takes 10 ms (the bubble's clock)
			mu.Lock()
			inflight--
			mu.Unlock()
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc, StrictOrdering(), DisableAggregation(), Linger(0))
		var futs []*Future
		for i := 0; i < 50; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i), i)))
		}
		for _, fu := range futs {
			fu.Wait(t.Context())
		}
		mu.Lock()
		defer mu.Unlock()
		if peak != 1 {
			t.Fatalf("%d calls in flight for one shard", peak)
		}
		for _, n := range e.entryCounts() {
			if n != 1 {
				t.Fatalf("a call carried %d entries for one shard under StrictOrdering", n)
			}
		}
	})
}

func TestMissingStreamFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p, err := New(e.kc, "nosuch")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		start := time.Now()
		_, err = p.Put(t.Context(), rec("a", 1))
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || time.Since(start) > 10*time.Second {
			t.Fatalf("Put = %v after %v", err, time.Since(start))
		}
	})
}

func TestPeriodicRefreshWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3) // two ListShards pages per refresh
		p := mustNew(t, e.kc, ShardMapRefreshInterval(time.Minute))
		time.Sleep(time.Millisecond)
		if n := e.listCount(); n != 2 {
			t.Fatalf("%d ListShards calls at start, want 2 (paginated)", n)
		}
		time.Sleep(10 * time.Minute)
		refreshes := p.Stats().ShardMapRefreshes
		if refreshes < 9 || refreshes > 14 { // every 48..72 s
			t.Fatalf("%d refreshes in 10 min with a 1 min ±20%% interval", refreshes)
		}
	})
}

func TestStreamMaxRecordSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.setMaxRecordKiB(2048)
		p := mustNew(t, e.kc)
		big := Record{PartitionKey: "a", Data: make([]byte, 1536<<10)}
		if _, err := p.Put(t.Context(), big); err != nil {
			t.Fatalf("1.5 MiB record on a 2 MiB stream: %v", err)
		}
		big.Data = make([]byte, 2048<<10)
		if _, err := p.Put(t.Context(), big); !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("2 MiB + key: %v, want ErrRecordTooLarge", err)
		}
		p2 := mustNew(t, e.kc, MaxRecordSize(1000))
		if _, err := p2.Put(t.Context(), Record{PartitionKey: "a", Data: make([]byte, 1000)}); !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("MaxRecordSize(1000): %v", err)
		}
	})
}

func TestPutBeforeMapSkipsLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p := mustNew(t, e.kc, Linger(time.Hour))
		// No sleep: the map is not loaded yet when Put routes the record.
		start := time.Now()
		if _, err := p.Put(t.Context(), rec("a", 1)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Put took %v", d)
		}
	})
}
