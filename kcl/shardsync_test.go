package kcl

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// countHandler counts log records with a given message.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// Workers starting at once on an empty table create each lease exactly once (conditional creates; the
// losers see ErrExists), through a paginated ListShards (the fake rejects NextToken with StreamName).
func TestWorkersStartingTogetherCreateEachLeaseOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 8)
		var created atomic.Int64
		log := slog.New(countHandler{msg: "lease created", n: &created})
		rec := newRecorder()
		var ws []*running
		for _, name := range []string{"a", "b", "c", "d"} {
			ws = append(ws, e.start(name, rec.factory, WithLogger(log)))
		}
		waitFor(t, 20*time.Second, "all leases held", func() bool {
			n := 0
			for _, w := range ws {
				n += len(w.w.Shards())
			}
			return n == 8
		})
		if created.Load() != 8 {
			t.Errorf("leases created %d times, want 8", created.Load())
		}
		ls, err := e.manager("reader").List(t.Context())
		if err != nil || len(ls) != 8 {
			t.Fatalf("List = %d leases, %v", len(ls), err)
		}
		for _, w := range ws {
			w.shutdown(t)
		}
	})
}

// A listing with a hole in the hash key space (an inconsistent view during resharding) creates nothing.
func TestShardSyncRefusesIncompleteListing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		// ListShards answers without shard 1: the open shards it lists cover only the lower half.
		e.kc.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op != "ListShards" {
				return kinesistest.Action{}, false
			}
			return kinesistest.Action{Edit: func(answer []byte) []byte {
				var out struct{ Shards []map[string]any }
				if err := json.Unmarshal(answer, &out); err != nil {
					panic(err)
				}
				out.Shards = slices.DeleteFunc(out.Shards, func(s map[string]any) bool { return s["ShardId"] == shardName(1) })
				b, _ := json.Marshal(out)
				return b
			}}, true
		})
		w, err := NewWorker(e.kc, e.manager("w"), "s", newRecorder().factory)
		if err != nil {
			t.Fatal(err)
		}
		n, err := w.syncShards(t.Context(), false)
		if n != 0 || !errors.Is(err, ErrIncompleteShardList) {
			t.Fatalf("syncShards = %d, %v; want 0 and ErrIncompleteShardList", n, err)
		}
		if ls, _ := e.manager("reader").List(t.Context()); len(ls) != 0 {
			t.Errorf("%d leases created from an incomplete listing", len(ls))
		}
	})
}
