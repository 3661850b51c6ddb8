package kcl

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A prepared checkpoint is stored as pending (with its state) without moving the checkpoint; a processor
// started after a crash finds it in InitializeInput; Commit makes it the checkpoint and clears it.
func TestPreparedCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		s1 := e.kc.put(shardName(0), "k", []byte("1"))
		e.kc.put(shardName(0), "k", []byte("2"))
		var mu sync.Mutex
		var prepared *PreparedCheckpoint
		var inits []InitializeInput
		prepare := &prepProc{onInit: func(in InitializeInput) { mu.Lock(); inits = append(inits, in); mu.Unlock() },
			onBatch: func(ctx context.Context, in ProcessRecordsInput) error {
				mu.Lock()
				defer mu.Unlock()
				if prepared != nil {
					return nil
				}
				p, err := in.Checkpointer.(*ShardCheckpointer).PrepareCheckpoint(ctx, in.Records[0].Position, []byte("state"))
				prepared = p
				return err
			}}
		r := e.start("w1", func(string) RecordProcessor { return prepare })
		waitFor(t, 10*time.Second, "prepared", func() bool { mu.Lock(); defer mu.Unlock(); return prepared != nil })
		synctest.Wait()
		l := e.lease(shardName(0))
		if l.PendingCheckpoint != s1 || string(l.PendingCheckpointState) != "state" || l.Checkpoint != "TRIM_HORIZON" {
			t.Fatalf("after prepare: %+v", l)
		}
		r.kill() // crash before committing

		r2 := e.start("w2", func(string) RecordProcessor { return prepare })
		waitFor(t, 20*time.Second, "second Initialize", func() bool { mu.Lock(); defer mu.Unlock(); return len(inits) == 2 })
		mu.Lock()
		in := inits[1]
		mu.Unlock()
		if in.PendingCheckpoint == nil || *in.PendingCheckpoint != (Position{SequenceNumber: s1}) ||
			!slices.Equal(in.PendingCheckpointState, []byte("state")) {
			t.Fatalf("InitializeInput after crash: %+v", in)
		}
		waitFor(t, 10*time.Second, "redelivery", func() bool { return prepare.batches() >= 2 })
		mu.Lock()
		p := prepared
		mu.Unlock()
		// The first worker's PreparedCheckpoint is bound to its lost lease: committing it must fail.
		if err := p.Commit(t.Context()); err == nil {
			t.Error("Commit through a lost lease succeeded")
		}
		cp := prepare.lastCheckpointer()
		if err := cp.Checkpoint(t.Context(), Position{SequenceNumber: s1}); err != nil {
			t.Fatal(err)
		}
		l = e.lease(shardName(0))
		if l.Checkpoint != s1 || l.PendingCheckpoint != "" || len(l.PendingCheckpointState) != 0 {
			t.Errorf("after checkpoint: %+v, want checkpoint %s and no pending", l, s1)
		}
		r2.shutdown(t)
	})
}

type prepProc struct {
	onInit  func(InitializeInput)
	onBatch func(context.Context, ProcessRecordsInput) error
	mu      sync.Mutex
	n       int
	last    Checkpointer
}

func (p *prepProc) Initialize(_ context.Context, in InitializeInput) error { p.onInit(in); return nil }
func (p *prepProc) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	p.mu.Lock()
	p.n++
	p.last = in.Checkpointer
	p.mu.Unlock()
	return p.onBatch(ctx, in)
}
func (p *prepProc) Shutdown(context.Context, ShutdownInput) error { return nil }
func (p *prepProc) batches() int                                  { p.mu.Lock(); defer p.mu.Unlock(); return p.n }
func (p *prepProc) lastCheckpointer() Checkpointer                { p.mu.Lock(); defer p.mu.Unlock(); return p.last }
