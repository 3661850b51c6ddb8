package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/lease"
)

// A Worker processes the shards of one stream together with the other workers of its application (the
// workers sharing the lease table): it takes a fair share of the shard leases, runs a processor per leased
// shard and checkpoints through it. A Worker is safe for concurrent use; Run it once and stop it with
// Shutdown (graceful) or by cancelling Run's context (hard).
type Worker struct {
	kc           KinesisAPI
	leases       *lease.Manager
	coord        coordinator
	stream       streamRef
	newProcessor ProcessorFactory
	cfg          config
	hooks        *hooks
	log          *slog.Logger
	decoder      *compression.Decoder
	efo          efoState    // enhanced fan-out consumer (fanout.go)
	budget       *byteBudget // WorkerPrefetchBytes
	dist         distState   // the stream's record distribution (distribution.go)
	fatal        chan error  // a failure that stops Run (capacity 1; the first one wins)

	failover, releaseTimeout time.Duration

	mu        sync.Mutex
	consumers map[string]*shardConsumer // running shard consumers by shard ID; guarded by mu
	handing   map[string]bool           // leases without consumer being handed over; guarded by mu
	started   bool                      // guarded by mu
	draining  bool                      // Shutdown called: start no consumer; guarded by mu
	runCtx    context.Context           // Run's context, parent of the consumers'; guarded by mu
	wg        sync.WaitGroup            // shard consumer goroutines

	shutdownOnce sync.Once
	shutdownCh   chan struct{} // closed by Shutdown
	runDone      chan struct{} // closed when Run has returned (every goroutine exited)
}

// NewWorker returns a Worker for stream that keeps its leases and checkpoints through leases (whose
// owner ID identifies this worker in the fleet and whose options set the lease timing: Failover,
// RenewInterval, TakeInterval, MaxLeasesForWorker, MaxLeasesToStealAtOnce) and makes a processor per
// shard with newProcessor. Options and their defaults are in options.go. The lease table must exist
// (lease.Manager.EnsureTable). NewWorker makes no calls.
func NewWorker(kc KinesisAPI, leases *lease.Manager, stream string, newProcessor ProcessorFactory, opts ...Option) (*Worker, error) {
	switch {
	case kc == nil:
		return nil, fmt.Errorf("%w: nil Kinesis client", ErrInvalidConfig)
	case leases == nil:
		return nil, fmt.Errorf("%w: nil lease manager", ErrInvalidConfig)
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidConfig)
	case newProcessor == nil:
		return nil, fmt.Errorf("%w: nil processor factory", ErrInvalidConfig)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidConfig)
		}
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h, err := newHooks(parseStreamRef(stream).name, cfg.hooks)
	if err != nil {
		return nil, err
	}
	dec, err := compression.NewDecoder(0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	coord, err := newCoordinator(leases, cfg.fleet)
	if err != nil {
		return nil, err
	}
	coord.DeferHandoffs() // requested leases are handed over by their consumers, after a checkpoint
	return &Worker{
		kc: kc, leases: leases, coord: coord, stream: parseStreamRef(stream),
		newProcessor: newProcessor, cfg: cfg, hooks: h,
		log:    cfg.logger.With("stream", stream, "owner", leases.Owner()),
		budget: newByteBudget(cfg.workerPrefetch), fatal: make(chan error, 1),
		decoder: dec, failover: leases.Failover(), releaseTimeout: leases.Failover() / 4,
		consumers: map[string]*shardConsumer{}, handing: map[string]bool{},
		shutdownCh: make(chan struct{}), runDone: make(chan struct{}),
	}, nil
}

// Run processes shards until Shutdown is called (it then returns ErrWorkerClosed once every processor
// was shut down and every lease released) or ctx ends (a hard stop: processors get Shutdown(LeaseLost),
// leases are not released and expire after the failover time; Run returns ctx's error), or a failure
// the worker cannot get past occurs (it then stops as Shutdown does and returns that error, e.g.
// ErrConsumerRegistration). A lease table the worker must not join (a Java KCL multi-stream table, or
// one a live KCL 3.x fleet uses: lease.Manager.CheckTable) makes Run return its *lease.RefusedError at
// once, before anything is written. Run returns only
// after all of the worker's goroutines exited. Calling Run again returns ErrWorkerClosed.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return ErrWorkerClosed
	}
	w.started = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.runCtx = ctx
	w.mu.Unlock()
	defer close(w.runDone)
	select {
	case <-w.shutdownCh:
		return ErrWorkerClosed
	default:
	}
	// A Java KCL table Shardwise must not join (multi-stream, or a live KCL 3.x fleet) is refused before
	// anything is written to it; other check failures are retried by the lease package before its first write.
	if err := w.leases.CheckTable(ctx); errors.Is(err, lease.ErrTableRefused) {
		w.log.LogAttrs(ctx, slog.LevelError, "lease table refused", slog.Any("err", err))
		return err
	}

	// The coordinator renews until every consumer has released its lease (graceful) or ctx ends (hard).
	coordCtx, stopCoord := context.WithCancel(ctx)
	defer stopCoord()
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); _ = w.coord.Run(coordCtx) }()
	go func() { defer loops.Done(); w.syncLoop(syncCtx) }()
	w.log.LogAttrs(ctx, slog.LevelInfo, "worker started")

	var err error
	fatal := false
	for err == nil {
		select {
		case <-w.coord.Changed():
			w.reconcile()
		case <-w.shutdownCh:
			err = ErrWorkerClosed
		case ferr := <-w.fatal:
			// Stop as Shutdown does (release every lease so the fleet moves on), returning ferr.
			w.shutdownOnce.Do(func() { close(w.shutdownCh) })
			w.mu.Lock()
			w.draining = true
			w.mu.Unlock()
			err, fatal = ferr, true
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	stopSync()
	graceful := err == ErrWorkerClosed || fatal
	if graceful {
		w.coord.StopTaking()
		w.mu.Lock()
		w.draining = true
		for _, c := range w.consumers {
			c.requestShutdown()
		}
		w.mu.Unlock()
	}
	w.wg.Wait() // consumers: shut down and released (graceful) or told LeaseLost (hard)
	if graceful {
		// Finished (SHARD_END) leases have no consumer; give them back too.
		rctx, rcancel := context.WithTimeout(ctx, w.failover)
		if rerr := w.coord.ReleaseAll(rctx); rerr != nil && ctx.Err() == nil {
			w.log.LogAttrs(rctx, slog.LevelWarn, "releasing leases failed", slog.Any("err", rerr))
		}
		rcancel()
	}
	stopCoord()
	loops.Wait()
	w.hooks.onCurrent(0)
	w.log.LogAttrs(context.Background(), slog.LevelInfo, "worker stopped", slog.Any("err", err))
	return err
}

// Shutdown stops taking leases, calls Shutdown(Requested) on every processor (after its batch in progress)
// so it can checkpoint, releases the leases so other workers take them at once, and waits for Run to
// return. It returns ctx's error if that takes longer than ctx allows (Run then keeps going until done;
// cancel Run's context to stop hard). Calling Shutdown before Run makes Run return ErrWorkerClosed. With
// [DeregisterConsumerOnShutdown] it then deregisters the fan-out consumer and returns that call's error.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.shutdownOnce.Do(func() {
		w.mu.Lock()
		started := w.started
		w.started, w.draining = true, true
		w.mu.Unlock()
		close(w.shutdownCh)
		if !started {
			close(w.runDone)
		}
	})
	select {
	case <-w.runDone:
		return w.deregisterConsumer(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shards returns the IDs of the shards this worker holds leases for (finished shards awaiting cleanup
// included), sorted.
func (w *Worker) Shards() []string {
	held := w.coord.Held()
	out := make([]string, 0, len(held))
	for _, l := range held {
		out = append(out, l.Key)
	}
	return out
}

// reconcile starts a consumer for every held, unfinished lease without one and stops the consumers whose
// lease is no longer held.
func (w *Worker) reconcile() {
	held := w.coord.Held()
	keys := make(map[string]bool, len(held))
	for _, l := range held {
		keys[l.Key] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, c := range w.consumers {
		if !keys[key] {
			c.markLost(lease.ErrLeaseLost)
		}
	}
	// Handoff requests (another worker balancing): the consumer stops fetching (fan-out: once the
	// requester's SubscribeToShard would not be refused by the 5 s rule, processing meanwhile), finishes
	// its batch in progress, shuts the processor down with Requested (it may checkpoint) and releases the
	// lease, which hands it to the requester; the requester starts at that checkpoint. Leases without a
	// consumer are handed over at once.
	for _, l := range held {
		if l.PendingOwner == "" {
			continue
		}
		if c, running := w.consumers[l.Key]; running {
			c.requestHandoff()
		} else if !w.handing[l.Key] && w.runCtx.Err() == nil {
			w.handing[l.Key] = true
			key := l.Key
			w.wg.Go(func() {
				ctx, cancel := context.WithTimeout(w.runCtx, w.releaseTimeout)
				defer cancel()
				if err := w.coord.Release(ctx, key); err != nil {
					w.log.LogAttrs(ctx, slog.LevelWarn, "lease handoff failed", slog.String("shard_id", key), slog.Any("err", err))
				}
				w.mu.Lock()
				delete(w.handing, key)
				w.mu.Unlock()
			})
		}
	}
	if w.draining || w.runCtx.Err() != nil {
		return
	}
	for _, l := range held {
		if _, running := w.consumers[l.Key]; running || l.Finished() || l.PendingOwner != "" {
			continue
		}
		w.startConsumerLocked(l)
	}
	w.hooks.onCurrent(len(w.consumers))
}

// startConsumerLocked starts the shard consumer of a held lease. w.mu is held.
func (w *Worker) startConsumerLocked(l lease.Lease) {
	ctx, cancel := context.WithCancel(w.runCtx)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	c := &shardConsumer{
		w: w, shardID: l.Key, lease: l, log: w.log.With("shard_id", l.Key),
		ctx: ctx, cancel: cancel, fetchCtx: fetchCtx, stopFetch: stopFetch,
		done:        make(chan struct{}),
		retryPolicy: backoff.Policy{Base: w.cfg.retryBackoff, Max: 10 * time.Second},
	}
	w.consumers[l.Key] = c
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer stopFetch()
		c.run()
		w.mu.Lock()
		if w.consumers[l.Key] == c {
			delete(w.consumers, l.Key)
		}
		n := len(w.consumers)
		w.mu.Unlock()
		w.hooks.onCurrent(n)
	}()
}

// syncLoop runs shard sync at start (retried until it succeeds, so a fleet starting on an empty table
// creates the leases, each exactly once thanks to conditional creates) and then every ShardSyncInterval
// when this worker is the leader (isLeader), with lease cleanup.
func (w *Worker) syncLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	synced, failures := false, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if synced && !isLeader(w.coord, w.leases.Owner()) {
			t.Reset(w.cfg.shardSyncInterval)
			continue
		}
		n, err := w.syncShards(ctx, synced)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := backoff.Policy{Base: time.Second, Max: w.cfg.shardSyncInterval}.Delay(failures)
			failures++
			w.log.LogAttrs(ctx, slog.LevelWarn, "shard sync failed", slog.Any("err", err), slog.Duration("retry_in", d))
			t.Reset(d)
			continue
		}
		if n > 0 {
			w.coord.Trigger() // take the new leases now rather than a take interval later
		}
		synced, failures = true, 0
		t.Reset(w.cfg.shardSyncInterval)
	}
}

// newRetriever returns the retriever for one shard: polling (enhanced fan-out plugs in here).
func (w *Worker) newRetriever(ctx context.Context, rc retrievalConfig, log *slog.Logger) retriever {
	if w.cfg.efoConsumer != "" {
		return w.newFanOutRetriever(ctx, rc, log)
	}
	return newPoller(ctx, w.kc, rc, &w.cfg, w.budget, w.hooks, log)
}
