package kpl

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestRateRecoversDespiteEntryFailures: a throttled shard's rate grows back through calls that were
// not throttled, even when every one of them also carries an entry failing with InternalFailure (at
// 1 % entry failures, 99 % of 500-entry calls carry one).
func TestRateRecoversDespiteEntryFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			return failEntries(req, func(_ int, en kinesistest.PutEntry) string {
				switch {
				case call == 0:
					return codeThroughputExceeded
				case en.PartitionKey == "sticky":
					return codeInternalFailure // resent at the front of every later call
				}
				return ""
			})
		})
		p := mustNew(t, e.kc, DisableAggregation(), RateLimit(100), RecordTTL(0))
		time.Sleep(time.Millisecond) // the shard map
		sticky := p.PutAsync(t.Context(), rec("sticky", 0))
		for i := range 5000 { // 1000 records/s for 5 s: the recovery needs 3 s
			p.PutAsync(t.Context(), rec("k", i))
			time.Sleep(time.Millisecond)
		}
		p.mu.Lock()
		factor := p.shardList[0].bucket.factor
		p.mu.Unlock()
		st := p.Stats()
		if st.EntriesThrottled == 0 || st.RecordsDelivered < 4000 {
			t.Fatalf("stats %+v: want a throttled first call and records delivered since", st)
		}
		if factor != 1 {
			t.Fatalf("rate factor %.2f 5 s after the only throttling, want 1", factor)
		}
		p.Close()
		if _, err := sticky.Wait(t.Context()); !errors.Is(err, ErrClosed) {
			t.Fatalf("sticky record: %v, want ErrClosed", err)
		}
	})
}
