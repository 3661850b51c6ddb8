package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/lease"
)

// A shardConsumer processes one leased shard on its own goroutine (owned by the Worker, which waits for
// it). States, in order (the Java KCL's ShardConsumer states):
//
//	waiting on parents -> initializing -> processing -> shutting down (reason) -> releasing -> done
//
// Three ways out of processing: the shard ends (ShardEnded: the processor acknowledges, the worker writes
// ShardEnd, creates the children's leases and releases the lease), Worker.Shutdown (Requested: in-flight
// processing completes, the processor may checkpoint, the lease is released), and loss of the lease or a
// hard stop (LeaseLost: everything is cancelled, the processor is told, nothing is written).
type shardConsumer struct {
	w       *Worker
	shardID string
	lease   lease.Lease // the copy the consumer started from
	log     *slog.Logger

	lostMu  sync.Mutex
	lostErr error // why the lease was lost; guarded by lostMu
	// readyAt, once the retriever exists, says when the shard may be handed over without the requester
	// being refused (fan-out's 5 s rule; zero: at once). Guarded by lostMu.
	readyAt func() time.Time
	// handoff is the pending stop of a hand-off waiting for readyAt (nil: none asked); handoffBy caps
	// that wait. Guarded by lostMu.
	handoff   *time.Timer
	handoffBy time.Time

	ctx    context.Context // cancelled when the lease is lost or the worker stops hard
	cancel context.CancelFunc
	// fetchCtx is ctx, also cancelled by requestShutdown: waits for the next batch end, while a
	// ProcessRecords call in progress (on ctx) completes.
	fetchCtx    context.Context
	stopFetch   context.CancelFunc
	done        chan struct{}
	retryPolicy backoff.Policy
}

func (c *shardConsumer) requestShutdown() { c.stopFetch() }

// requestHandoff is requestShutdown for a lease another worker asked for: the consumer stops fetching as
// soon as the requester can read the shard at once. Until then (fan-out: 5 s after this worker's last
// accepted SubscribeToShard, which would refuse the requester's; never longer than half the failover
// time, so the hand-off completes long before the Coordinator would force it) it keeps processing, so
// the wait delays no record. Repeated calls change nothing.
func (c *shardConsumer) requestHandoff() {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	if c.handoff != nil || c.fetchCtx.Err() != nil {
		return
	}
	c.handoffBy = time.Now().Add(c.w.failover / 2)
	c.handoff = time.AfterFunc(c.handoffDelayLocked(), c.handoffDue)
}

// handoffDelayLocked is how long the hand-off still waits. c.lostMu is held.
func (c *shardConsumer) handoffDelayLocked() time.Duration {
	var at time.Time
	if c.readyAt != nil {
		at = c.readyAt()
	}
	return max(0, min(time.Until(at), time.Until(c.handoffBy)))
}

// handoffDue stops fetching, unless a subscription accepted meanwhile (a resubscription) moved the time
// the requester can subscribe: then it waits again, within the same cap.
func (c *shardConsumer) handoffDue() {
	c.lostMu.Lock()
	if d := c.handoffDelayLocked(); d > 0 {
		c.handoff.Reset(d)
		c.lostMu.Unlock()
		return
	}
	c.lostMu.Unlock()
	c.log.LogAttrs(c.ctx, slog.LevelDebug, "handing the lease over")
	c.stopFetch()
}

// stopHandoffTimer stops a pending hand-off timer once the consumer has ended.
func (c *shardConsumer) stopHandoffTimer() {
	c.lostMu.Lock()
	if c.handoff != nil {
		c.handoff.Stop()
	}
	c.lostMu.Unlock()
}

// markLost stops the consumer because the lease is gone.
func (c *shardConsumer) markLost(err error) {
	c.lostMu.Lock()
	if c.lostErr == nil {
		c.lostErr = err
	}
	c.lostMu.Unlock()
	c.cancel()
}

func (c *shardConsumer) requested() bool { return c.fetchCtx.Err() != nil && c.ctx.Err() == nil }

// sleep waits d on fetchCtx; false when it ended.
func (c *shardConsumer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.fetchCtx.Done():
		return false
	}
}

func (c *shardConsumer) run() {
	defer close(c.done)
	defer c.cancel()
	defer c.stopHandoffTimer()
	l := c.lease
	if !c.waitForParents(l) {
		if c.requested() {
			c.release()
		} else {
			c.lost(nil, c.ctx.Err())
		}
		return
	}
	start := positionFromLease(l, c.w.cfg.start)
	if start.SequenceNumber == AtTimestamp(time.Time{}).SequenceNumber && start.timestamp.IsZero() {
		// The lease says AT_TIMESTAMP (a Java application's initial position, or this application's
		// earlier StartAt) but the time lives in the application's configuration, not in the table.
		// Reading from TRIM_HORIZON instead would process everything retained again: stop the worker
		// with an error that says what to configure.
		err := fmt.Errorf("%w: lease %s is at AT_TIMESTAMP, which needs the time the application starts "+
			"from: give StartAt(AtTimestamp(t)) with the initial timestamp the application (or the Java "+
			"application that wrote the table) was configured with", ErrInvalidConfig, c.shardID)
		c.log.LogAttrs(c.ctx, slog.LevelError, "cannot start the shard; the worker stops", slog.Any("err", err))
		c.w.stop(err)
		c.release()
		return
	}
	in := InitializeInput{ShardID: c.shardID, Start: start}
	if l.HasPendingCheckpoint() {
		pending := Position{SequenceNumber: l.PendingCheckpoint, SubSequenceNumber: int(l.PendingCheckpointSubSequence)}
		in.PendingCheckpoint, in.PendingCheckpointState = &pending, l.PendingCheckpointState
	}
	proc := c.w.newProcessor(c.shardID)
	if !c.retry("Initialize", func() error { return proc.Initialize(c.ctx, in) }) {
		c.finish(proc, nil)
		return
	}
	cp := newCheckpointer(c.shardID, c.w.coord, func() { c.markLost(lease.ErrLeaseLost) }, start)
	conv := &converter{shardID: c.shardID, dec: c.w.decoder, hooks: c.w.hooks, log: c.log}
	if l.StartingHashKey != "" {
		if r, err := aggregation.ParseHashRange(l.StartingHashKey, l.EndingHashKey); err == nil {
			conv.rng, conv.hasRange = r, true
		}
	}
	if !start.IsSentinel() {
		conv.skipThrough, conv.skipping = start, true
	}
	c.w.hooks.onStarted(c.shardID)
	c.log.LogAttrs(c.ctx, slog.LevelInfo, "processing shard", slog.String("start", start.String()))
	r := c.w.newRetriever(c.ctx, retrievalConfig{stream: c.w.stream, shardID: c.shardID, start: start}, c.log)
	defer r.Close()
	if fr, ok := r.(*fanOutRetriever); ok {
		c.lostMu.Lock()
		c.readyAt = fr.handoffReadyAt
		c.lostMu.Unlock()
	}
	var buf []Record
	for {
		b, err := r.Next(c.fetchCtx)
		switch {
		case c.ctx.Err() != nil:
			c.finish(proc, nil)
			return
		case c.fetchCtx.Err() != nil:
			c.finish(proc, cp)
			return
		case err != nil && !errors.Is(err, errRetrievalDone):
			// The shard no longer exists (past retention): nothing more can be read from it.
			c.log.LogAttrs(c.ctx, slog.LevelWarn, "shard unreadable; treating it as ended", slog.Any("err", err))
			b = batch{shardEnd: true}
		case err != nil:
			b = batch{shardEnd: true}
		}
		if conv.hasRange && len(b.records) > 0 {
			conv.noFilter = !c.w.filterSubRecords(c.ctx)
		}
		res := conv.convert(b.records, buf)
		// The slice is reused for the next batch; clear it below so it does not keep this batch's
		// data alive while the shard waits (a shard per worker would hold its last batch: the
		// prefetch byte bounds would not bound memory).
		buf = res.records[:0]
		if len(res.records) > 0 || (c.w.cfg.deliverEmpty && !b.shardEnd) {
			if !c.deliver(proc, cp, res, b.millisBehindLatest) {
				c.finish(proc, cp)
				return
			}
		}
		clear(res.records)
		b.records = nil
		if res.hasLast {
			cp.setDelivered(res.last)
		}
		if b.shardEnd {
			c.shardEnd(proc, cp, b)
			return
		}
	}
}

// deliver calls ProcessRecords until it succeeds; false when the consumer must stop first.
func (c *shardConsumer) deliver(proc RecordProcessor, cp *shardCheckpointer, res convertResult, behind int64) bool {
	// The checkpointer accepts positions up to the batch's last record during the call.
	if len(res.records) > 0 {
		cp.setDelivered(res.records[len(res.records)-1].Position)
	}
	if res.hasLast {
		cp.setDelivered(res.last)
	}
	last, _ := cp.lastDelivered()
	in := ProcessRecordsInput{ShardID: c.shardID, Records: res.records, LastDelivered: last, MillisBehindLatest: behind, Checkpointer: cp}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := proc.ProcessRecords(c.ctx, in)
		c.w.hooks.onProcessed(ProcessedEvent{
			ShardID: c.shardID, Records: len(res.records), Bytes: res.bytes, MillisBehindLatest: behind,
			Duration: time.Since(start), Err: err,
		})
		if err == nil {
			return true
		}
		if c.ctx.Err() != nil {
			return false
		}
		d := c.retryPolicy.Delay(attempt)
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "ProcessRecords failed; delivering the batch again",
			slog.Any("err", err), slog.Int("attempt", attempt+1), slog.Duration("backoff", d))
		if !c.sleep(d) {
			return false
		}
	}
}

// retry calls fn until it succeeds; false when the consumer must stop first.
func (c *shardConsumer) retry(what string, fn func() error) bool {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return true
		}
		if c.fetchCtx.Err() != nil {
			return false
		}
		d := c.retryPolicy.Delay(attempt)
		c.log.LogAttrs(c.ctx, slog.LevelWarn, what+" failed; retrying", slog.Any("err", err), slog.Duration("backoff", d))
		if !c.sleep(d) {
			return false
		}
	}
}

// shardEnd: the processor acknowledges (retried until it returns nil), the worker checkpoints ShardEnd
// with the children, creates their leases and releases the finished lease.
func (c *shardConsumer) shardEnd(proc RecordProcessor, cp *shardCheckpointer, b batch) {
	last, _ := cp.lastDelivered()
	in := ShutdownInput{ShardID: c.shardID, Reason: ShardEnded, LastDelivered: last, Checkpointer: cp}
	if !c.retry("Shutdown(ShardEnded)", func() error { return proc.Shutdown(c.ctx, in) }) {
		c.finish(proc, cp)
		return
	}
	var children []shardInfo
	if !c.retry("listing child shards", func() (err error) {
		children, err = c.w.childShards(c.ctx, c.shardID, b.children)
		return err
	}) {
		c.finishAfterShutdown()
		return
	}
	if !c.retry("ShardEnd checkpoint", func() error {
		return cp.checkpointShardEnd(c.ctx, childIDs(children))
	}) {
		c.finishAfterShutdown()
		return
	}
	c.w.hooks.onEnded(c.shardID, childIDs(children))
	c.log.LogAttrs(c.ctx, slog.LevelInfo, "shard ended", slog.Any("children", childIDs(children)))
	if !c.retry("creating child leases", func() error { return c.w.createChildLeases(c.ctx, children) }) {
		c.finishAfterShutdown()
		return
	}
	c.w.coord.Trigger() // take the children now rather than a take interval later
	// The finished lease stays held (as in the Java KCL) until shard sync deletes it; no consumer runs
	// for it. A Worker.Shutdown releases it with the rest.
}

// finish shuts the processor down: Requested (with the checkpointer) when Worker.Shutdown asked and the
// lease is still held, else LeaseLost; then releases the lease if it is still held.
func (c *shardConsumer) finish(proc RecordProcessor, cp *shardCheckpointer) {
	if c.ctx.Err() == nil {
		if cp != nil { // nil: Initialize never succeeded, so there is nothing to shut down
			last, _ := cp.lastDelivered()
			err := proc.Shutdown(c.ctx, ShutdownInput{ShardID: c.shardID, Reason: Requested, LastDelivered: last, Checkpointer: cp})
			if err != nil {
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "Shutdown(Requested) failed", slog.Any("err", err))
			}
		}
		c.release()
		return
	}
	c.lost(proc, c.ctx.Err())
}

// finishAfterShutdown ends a consumer whose processor was already shut down.
func (c *shardConsumer) finishAfterShutdown() {
	if c.ctx.Err() == nil {
		c.release()
		return
	}
	c.lost(nil, c.ctx.Err())
}

// lost tells the processor (if any) that the lease is gone; its context is detached from the cancelled
// one and bounded, so the processor can clean up but not hang the worker.
func (c *shardConsumer) lost(proc RecordProcessor, cause error) {
	c.lostMu.Lock()
	err := c.lostErr
	c.lostMu.Unlock()
	if err == nil {
		err = cause
	}
	c.w.hooks.onLost(c.shardID, err)
	c.log.LogAttrs(context.Background(), slog.LevelInfo, "lease lost", slog.Any("err", err))
	if proc != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.w.failover)
		defer cancel()
		if err := proc.Shutdown(ctx, ShutdownInput{ShardID: c.shardID, Reason: LeaseLost}); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "Shutdown(LeaseLost) failed", slog.Any("err", err))
		}
	}
}

// release gives the lease back so another worker takes it at once (and marks it no longer held here).
func (c *shardConsumer) release() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.w.releaseTimeout)
	defer cancel()
	err := c.w.coord.Release(ctx, c.shardID)
	if err != nil && !isLeaseLost(err) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "lease release failed; it expires after the failover time", slog.Any("err", err))
		return
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "lease released")
}

// waitForParents blocks until every parent lease is finished (checkpoint ShardEnd) or deleted; false
// when the consumer must stop first.
func (c *shardConsumer) waitForParents(l lease.Lease) bool {
	if len(l.ParentShardIDs) == 0 {
		return true
	}
	for {
		blocked := ""
		for _, p := range l.ParentShardIDs {
			pl, err := c.w.leases.Get(c.fetchCtx, p)
			if errors.Is(err, lease.ErrNotFound) {
				continue
			}
			if err != nil || !pl.Finished() {
				blocked = p
				break
			}
		}
		if blocked == "" {
			return true
		}
		c.log.LogAttrs(c.ctx, slog.LevelDebug, "waiting for parent shard to end", slog.String("parent", blocked))
		if !c.sleep(c.w.cfg.parentPollInterval) {
			return false
		}
	}
}
