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
		var prepared *Position
		var inits []InitializeInput
		prepare := &prepProc{onInit: func(in InitializeInput) { mu.Lock(); inits = append(inits, in); mu.Unlock() },
			onBatch: func(ctx context.Context, in ProcessRecordsInput) error {
				mu.Lock()
				defer mu.Unlock()
				if prepared != nil {
					return nil
				}
				pos := in.Records[0].Position
				prepared = &pos
				return in.Checkpointer.(CheckpointPreparer).PrepareCheckpoint(ctx, pos, []byte("state"))
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
		p := *prepared
		mu.Unlock()
		// The first worker's Checkpointer is bound to its lost lease: committing through it must fail.
		if err := prepare.firstCheckpointer().Checkpoint(t.Context(), p); err == nil {
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
	onInit     func(InitializeInput)
	onBatch    func(context.Context, ProcessRecordsInput) error
	onShutdown func(context.Context, ShutdownInput) error // nil: return nil
	mu         sync.Mutex
	n          int
	first      Checkpointer
	last       Checkpointer
}

func (p *prepProc) Initialize(_ context.Context, in InitializeInput) error { p.onInit(in); return nil }
func (p *prepProc) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	p.mu.Lock()
	p.n++
	if p.first == nil {
		p.first = in.Checkpointer
	}
	p.last = in.Checkpointer
	p.mu.Unlock()
	return p.onBatch(ctx, in)
}
func (p *prepProc) Shutdown(ctx context.Context, in ShutdownInput) error {
	if p.onShutdown == nil {
		return nil
	}
	return p.onShutdown(ctx, in)
}
func (p *prepProc) batches() int                    { p.mu.Lock(); defer p.mu.Unlock(); return p.n }
func (p *prepProc) firstCheckpointer() Checkpointer { p.mu.Lock(); defer p.mu.Unlock(); return p.first }
func (p *prepProc) lastCheckpointer() Checkpointer  { p.mu.Lock(); defer p.mu.Unlock(); return p.last }

// Each batch's LastDelivered is its last record's position, and Shutdown(Requested) gets the last
// delivered position: checkpointing it through the plain Checkpointer resumes after every record.
func TestLastDeliveredInInputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		var last string
		for i := range 5 {
			last = e.kc.put(shardName(0), "k", []byte{byte('a' + i)})
		}
		var mu sync.Mutex
		var bad []string
		var shutdownLast Position
		var reasons []ShutdownReason
		records := 0
		proc := &prepProc{onInit: func(InitializeInput) {},
			onBatch: func(ctx context.Context, in ProcessRecordsInput) error {
				mu.Lock()
				defer mu.Unlock()
				records += len(in.Records)
				if in.LastDelivered != in.Records[len(in.Records)-1].Position {
					bad = append(bad, in.LastDelivered.String())
				}
				return nil
			},
			onShutdown: func(ctx context.Context, in ShutdownInput) error {
				mu.Lock()
				reasons = append(reasons, in.Reason)
				shutdownLast = in.LastDelivered
				mu.Unlock()
				if in.Reason != Requested {
					return nil
				}
				return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
			}}
		r := e.start("w1", func(string) RecordProcessor { return proc })
		waitFor(t, 10*time.Second, "records", func() bool { mu.Lock(); defer mu.Unlock(); return records == 5 })
		r.shutdown(t)
		mu.Lock()
		defer mu.Unlock()
		if len(bad) != 0 {
			t.Errorf("LastDelivered %v not the batch's last record", bad)
		}
		if len(reasons) != 1 || reasons[0] != Requested {
			t.Errorf("Shutdown reasons %v, want [Requested]", reasons)
		}
		if shutdownLast != (Position{SequenceNumber: last}) {
			t.Errorf("ShutdownInput.LastDelivered = %v, want %s", shutdownLast, last)
		}
		if l := e.lease(shardName(0)); l.Checkpoint != last {
			t.Errorf("checkpoint after Shutdown(Requested) = %s, want %s", l.Checkpoint, last)
		}
	})
}
