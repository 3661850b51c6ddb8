package kcl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// emptyCounter counts ProcessRecords calls with and without records.
type emptyCounter struct {
	mu            sync.Mutex
	empty, filled int
}

func (e *emptyCounter) factory(string) RecordProcessor { return e }

func (e *emptyCounter) Initialize(context.Context, InitializeInput) error { return nil }

func (e *emptyCounter) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(in.Records) == 0 {
		e.empty++
		return nil
	}
	e.filled += len(in.Records)
	return in.Checkpointer.Checkpoint(ctx, in.Records[len(in.Records)-1].Position)
}

func (e *emptyCounter) Shutdown(context.Context, ShutdownInput) error { return nil }

func (e *emptyCounter) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.empty, e.filled
}

func TestDeliverEmptyBatches(t *testing.T) {
	for _, deliver := range []bool{true, false} {
		t.Run(fmt.Sprint(deliver), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 1)
				e.kc.put(shardName(0), "k", []byte("r"))
				var opts []Option
				if deliver {
					opts = append(opts, DeliverEmptyBatches())
				}
				c := &emptyCounter{}
				r := e.start("w1", c.factory, opts...)
				waitFor(t, 30*time.Second, "6 GetRecords calls", func() bool { return len(e.kc.getCalls(shardName(0))) >= 6 })
				synctest.Wait()
				empty, filled := c.counts()
				if filled != 1 {
					t.Errorf("%d records delivered, want 1", filled)
				}
				if deliver && empty < 4 {
					t.Errorf("DeliverEmptyBatches: %d empty calls after %d polls, want one per empty answer", empty, len(e.kc.getCalls(shardName(0))))
				}
				if !deliver && empty != 0 {
					t.Errorf("%d empty calls without DeliverEmptyBatches", empty)
				}
				r.shutdown(t)
			})
		})
	}
}

func TestKeepFinishedLeases(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 1)
				e.kc.put(shardName(0), "k", []byte("parent"))
				var opts []Option
				if keep {
					opts = append(opts, KeepFinishedLeases())
				}
				c := &emptyCounter{}
				r := e.start("w1", c.factory, opts...)
				waitFor(t, 20*time.Second, "the parent's record", func() bool { _, n := c.counts(); return n == 1 })
				c1, c2 := e.kc.split(shardName(0))
				e.kc.put(c1, "x", []byte("child1"))
				e.kc.put(c2, "y", []byte("child2"))
				waitFor(t, 30*time.Second, "the children's records", func() bool { _, n := c.counts(); return n == 3 })
				gone := func() bool {
					_, err := e.manager("reader").Get(context.Background(), shardName(0))
					return errors.Is(err, lease.ErrNotFound)
				}
				if !keep {
					waitFor(t, 30*time.Second, "the finished parent lease deleted", gone)
				} else {
					time.Sleep(30 * time.Second) // 30 shard syncs (fake clock)
					synctest.Wait()
					if gone() {
						t.Error("KeepFinishedLeases: the finished parent lease was deleted")
					} else if l := e.lease(shardName(0)); !l.Finished() {
						t.Errorf("parent lease checkpoint %q, want SHARD_END", l.Checkpoint)
					}
				}
				r.shutdown(t)
			})
		})
	}
}

func TestRetryBackoffValidated(t *testing.T) {
	e := newEnv(t, 1)
	_, err := NewWorker(e.kc, e.manager("w"), "s", (&emptyCounter{}).factory, RetryBackoff(0))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("RetryBackoff(0): %v, want ErrInvalidConfig", err)
	}
}
