package kpl

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// strictRun is what runStrictUnderFaults measured, in the bubble's virtual time.
type strictRun struct {
	put, delivered  int           // records put; delivered when the input ended
	drain           time.Duration // from the end of the input until every record was delivered
	calls           int           // PutRecords calls
	perCall         float64       // records delivered per call
	deliveredPerSec float64       // while the input lasted
	timeout         time.Duration // RequestTimeout
}

// runStrictUnderFaults feeds a StrictOrdering producer rate records/s for dur over 2 shards and
// 200 keys. Each call takes 20ms; a fraction of them (faultRate) fails, drawn from kinds: "500" (the
// call fails), "entries" (every entry InternalFailure), "slow" (answered after 1s), "reset" (applied,
// then the connection resets), "hang" (never answered: the call ends at the producer's timeout).
func runStrictUnderFaults(t *testing.T, rate int, dur time.Duration, faultRate float64, kinds []string, opts ...Option) strictRun {
	var res strictRun
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		var mu sync.Mutex
		rnd := rand.New(rand.NewPCG(1, 2))
		fault := map[int]string{}
		draw := func(call int) string {
			mu.Lock()
			defer mu.Unlock()
			k, ok := fault[call]
			if !ok {
				if rnd.Float64() < faultRate {
					k = kinds[rnd.IntN(len(kinds))]
				}
				fault[call] = k
			}
			return k
		}
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			a := kinesistest.Action{Delay: 20 * time.Millisecond}
			switch draw(call) {
			case "slow":
				a.Delay = time.Second
			case "hang":
				a.Hang = true
			case "500":
				a.Err = kinesistest.NewError(codeInternalFailure)
			case "entries":
				return failEntries(req, func(int, kinesistest.PutEntry) string { return codeInternalFailure })
			case "reset":
				a.Reset = true
			}
			return a, true
		})
		p := mustNew(t, e.kc, append([]Option{StrictOrdering()}, opts...)...)
		res.timeout = p.cfg.requestTimeout
		start := time.Now()
		gap := time.Second / time.Duration(rate)
		var futs []*Future
		for i := 1; time.Since(start) < dur; i++ {
			futs = append(futs, p.PutAsync(t.Context(), rec("k"+strconv.Itoa(i%200), i)))
			time.Sleep(gap)
		}
		inputEnd := time.Now()
		res.put = len(futs)
		for _, fu := range futs {
			if fu.isDone() {
				res.delivered++
			}
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		res.drain = time.Since(inputEnd)
		for i, fu := range futs {
			if _, err := fu.Wait(t.Context()); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		st := p.Stats()
		res.calls = int(st.PutRecordsCalls)
		res.perCall = float64(res.put) / float64(res.calls)
		res.deliveredPerSec = float64(res.delivered) / inputEnd.Sub(start).Seconds()
		checkConsumerOrder(t, e, res.put)
	})
	return res
}

// TestStrictOrderingThroughputUnderFaults: a StrictOrdering producer keeps up with its input under
// 20 % faults. Virtual time: the figures are exact for this fault draw, whatever the machine.
func TestStrictOrderingThroughputUnderFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  int
		kinds []string
	}{
		{"100/s entries", 100, []string{"entries"}},
		{"100/s 500", 100, []string{"500"}},
		{"100/s slow", 100, []string{"slow"}},
		{"100/s mixed", 100, []string{"500", "entries", "slow", "reset"}},
		{"25/s mixed with hangs", 25, []string{"500", "entries", "slow", "reset", "hang"}},
		{"100/s mixed with hangs", 100, []string{"500", "entries", "slow", "reset", "hang"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStrictUnderFaults(t, tc.rate, 60*time.Second, 0.2, tc.kinds)
			t.Logf("put %d in 60s: %.1f delivered/s during the input, drained %v after it; %d calls, %.1f records per call",
				r.put, r.deliveredPerSec, r.drain.Round(time.Millisecond), r.calls, r.perCall)
			// It keeps up: before sealed aggregates waited for calls of their own, 100/s under
			// 1s slow answers delivered 50.5/s and 25/s with hangs 9.9/s, drained after 2m6s.
			if r.deliveredPerSec < 0.9*float64(tc.rate) || r.drain > 2*r.timeout {
				t.Errorf("%.1f records/s delivered of %d/s put, drained %v after the input", r.deliveredPerSec, tc.rate, r.drain)
			}
		})
	}
}

// TestAttemptTimeout: once calls answer quickly, a hung call is given up after minAttemptTimeout
// instead of RequestTimeout; attempts timing out in a row double it up to RequestTimeout, and an
// answer brings it back.
func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		var mu sync.Mutex
		hangFrom, hangTo := -1, -1
		var held []time.Duration
		e.onPut(func(call int, _ kinesistest.Request) (kinesistest.Action, bool) {
			mu.Lock()
			defer mu.Unlock()
			if call >= hangFrom && call < hangTo {
				return kinesistest.Action{Hang: true}, true
			}
			return kinesistest.Action{Delay: 20 * time.Millisecond}, true
		})
		p := mustNew(t, e.kc, StrictOrdering(), RetryBackoff(time.Millisecond, time.Millisecond))
		for i := range 40 { // 40 answered calls: the estimate decays from RequestTimeout/4
			if _, err := p.Put(t.Context(), rec("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		hangFrom, hangTo = e.callCount(), e.callCount()+4
		mu.Unlock()
		start := time.Now()
		fu := p.PutAsync(t.Context(), rec("k", 40))
		res, err := fu.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Attempts {
			held = append(held, a.Duration.Round(time.Millisecond))
		}
		want := []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second, 6 * time.Second, 20 * time.Millisecond}
		if fmt.Sprint(held) != fmt.Sprint(want) {
			t.Fatalf("attempts held %v, want %v (RequestTimeout %v)", held, want, p.cfg.requestTimeout)
		}
		t.Logf("4 hung attempts then an answer: %v, %v in all", held, time.Since(start))
		if got := p.attemptTimeout(); got != minAttemptTimeout {
			t.Fatalf("after an answer the attempt timeout is %v, want %v", got, minAttemptTimeout)
		}
	})
}
