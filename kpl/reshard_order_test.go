package kpl

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
)

// consumerOrder reads the stream as a KCL consumer does: shards in lineage order (a parent before
// its children: ListShards gives them in creation order), user records of an aggregate that lie
// outside the shard's hash range dropped. It returns, per record "key:i", how often it was read,
// and the records read for the first time after a later record of their key (the first few).
func consumerOrder(e *env) (seen map[string]int, violations []string, nviol int) {
	seen = map[string]int{}
	last := map[string]int{}
	lastAt := map[string]string{}
	for _, s := range e.stored() {
		for _, r := range s.records {
			urs, err := aggregation.Deaggregate(r.Data)
			if err != nil {
				e.t.Fatal(err)
			}
			agg := aggregation.IsAggregated(r.Data)
			for _, u := range urs {
				if !agg {
					u.PartitionKey = aws.ToString(r.PartitionKey) // the tests send no explicit hash keys
				}
				hk, _ := aggregation.EffectiveHashKey(u.PartitionKey, u.ExplicitHashKey)
				if !s.rng.Contains(hk) {
					continue // a KCL consumer drops it
				}
				id := string(u.Data)
				seen[id]++
				if seen[id] > 1 {
					continue // a duplicate: allowed
				}
				key, idx, _ := strings.Cut(id, ":")
				i, _ := strconv.Atoi(idx)
				if l, ok := last[key]; ok && i < l {
					nviol++
					if len(violations) < 5 {
						violations = append(violations, fmt.Sprintf("%s:%d (%s) after %d (%s)", key, i, s.id, l, lastAt[key]))
					}
					continue
				}
				last[key], lastAt[key] = i, s.id
			}
		}
	}
	return seen, violations, nviol
}

// checkConsumerOrder fails t unless every record in want is read once at least, each key's records
// first read in put order.
func checkConsumerOrder(t *testing.T, e *env, want int) {
	t.Helper()
	seen, ex, n := consumerOrder(e)
	if n > 0 {
		t.Errorf("%d records read after a later record of their key: %s", n, strings.Join(ex, "; "))
	}
	if len(seen) != want {
		t.Errorf("consumer reads %d distinct records, want %d", len(seen), want)
	}
}

// TestStrictOrderingStaleMapSplit: the shard is split before the producer knows it. Its aggregates
// land on a child (the one owning their first record), the records outside that child's range must
// be resent, and no later record of their keys may be readable before them: neither sent meanwhile
// through the stale shard nor re-routed ahead of them when the new map arrives.
func TestStrictOrderingStaleMapSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		p := mustNew(t, e.kc, StrictOrdering(), ShardMapRefreshInterval(time.Hour), Linger(5*time.Millisecond),
			AggregationMaxCount(20))
		time.Sleep(time.Millisecond) // the one-shard map is loaded
		e.split("shardId-000000000000")
		n := 0
		for range 100 {
			for range 30 {
				n++
				p.PutAsync(t.Context(), rec("k"+strconv.Itoa(n%40), n))
			}
			time.Sleep(7 * time.Millisecond)
		}
		if err := p.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := p.Stats()
		if st.WrongShard == 0 || st.Rerouted == 0 || st.RecordsDelivered != uint64(n) {
			t.Fatalf("the wrong-shard path was not exercised: %+v", st)
		}
		checkConsumerOrder(t, e, n)
	})
}

// TestStrictOrderingInFlightAcrossSplit: a call to the parent is in flight when the new map (with
// the children) arrives. The children must not send later records of its keys until its outcome is
// known; here the call fails with an unknown outcome, so its records are resent to the children
// before anything later.
func TestStrictOrderingInFlightAcrossSplit(t *testing.T) {
	for _, outcome := range []string{"reset", "applied-then-reset", "wrong-shard"} {
		t.Run(outcome, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 1)
				release := make(chan struct{})
				var once sync.Once
				held := make(chan struct{})
				e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
					if call != 0 {
						return kinesistest.Action{}, false
					}
					once.Do(func() { close(held) })
					hold(req, release)
					switch outcome {
					case "reset": // the connection is reset before the call reaches the stream
						return kinesistest.Action{Drop: true}, true
					case "applied-then-reset":
						// The call is applied (to the parent, which is closed by then: Kinesis
						// routes it to a child), then the connection is reset: the records are
						// stored but the producer must resend them.
						return kinesistest.Action{Reset: true}, true
					}
					return kinesistest.Action{}, false // applied on a child: wrong shard
				})
				p := mustNew(t, e.kc, StrictOrdering(), ShardMapRefreshInterval(50*time.Millisecond),
					Linger(5*time.Millisecond), AggregationMaxCount(20), RetryBackoff(time.Millisecond, 10*time.Millisecond))
				time.Sleep(time.Millisecond)
				n := 0
				put := func(count int) {
					for range count {
						n++
						p.PutAsync(t.Context(), rec("k"+strconv.Itoa(n%40), n))
					}
				}
				put(20) // the first aggregate: call 0, held
				<-held
				put(200) // queued behind it on the parent
				e.split("shardId-000000000000")
				time.Sleep(200 * time.Millisecond) // the map refreshes (children), the call is still held
				put(200)
				time.Sleep(50 * time.Millisecond)
				close(release)
				if err := p.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				if st := p.Stats(); st.RecordsDelivered != uint64(n) || st.ShardMapRefreshes < 2 {
					t.Fatalf("stats %+v", st)
				}
				checkConsumerOrder(t, e, n)
			})
		})
	}
}
