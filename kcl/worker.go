package kcl

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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
	stream       string
	newProcessor ProcessorFactory
	cfg          config
	hooks        *hooks
	log          *slog.Logger
	decoder      *compression.Decoder
	tracker      *lease.Tracker

	failover, renewTimeout time.Duration

	mu        sync.Mutex
	consumers map[string]*shardConsumer // running shard consumers by shard ID; guarded by mu
	started   bool                      // guarded by mu
	runCtx    context.Context           // Run's context, parent of the consumers'; guarded by mu
	draining  bool                      // Shutdown called: take nothing more; guarded by mu
	wg        sync.WaitGroup            // shard consumer goroutines

	shutdownOnce sync.Once
	shutdownCh   chan struct{} // closed by Shutdown
	runDone      chan struct{} // closed when Run has returned (every goroutine exited)
}

// NewWorker returns a Worker for stream that keeps its leases and checkpoints through leases (whose
// owner ID identifies this worker in the fleet and whose failover time sets the lease timing) and makes a
// processor per shard with newProcessor. Options and their defaults are in options.go. The lease table
// must exist (lease.Manager.EnsureTable). NewWorker makes no calls.
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
	failover := leases.Failover()
	if cfg.renewInterval == 0 {
		cfg.renewInterval = failover / 3
	}
	if cfg.takeInterval == 0 {
		cfg.takeInterval = 2 * failover
	}
	if err := cfg.validate(failover); err != nil {
		return nil, err
	}
	h, err := newHooks(cfg.hooks)
	if err != nil {
		return nil, err
	}
	dec, err := compression.NewDecoder(0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &Worker{
		kc: kc, leases: leases, stream: stream, newProcessor: newProcessor, cfg: cfg, hooks: h,
		log:     cfg.logger.With("stream", stream, "owner", leases.Owner()),
		decoder: dec, tracker: lease.NewTracker(failover),
		failover: failover, renewTimeout: failover / 4,
		consumers:  map[string]*shardConsumer{},
		shutdownCh: make(chan struct{}), runDone: make(chan struct{}),
	}, nil
}

// Run processes shards until Shutdown is called (it then returns ErrWorkerClosed once every processor
// was shut down and every lease released) or ctx ends (a hard stop: processors get Shutdown(LeaseLost),
// leases are not released and expire after the failover time; Run returns ctx's error). Run returns only
// after all of the worker's goroutines exited. Calling Run again returns ErrWorkerClosed.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return ErrWorkerClosed
	}
	w.started = true
	w.mu.Unlock()
	defer close(w.runDone)
	select {
	case <-w.shutdownCh:
		return ErrWorkerClosed
	default:
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	w.runCtx = ctx
	w.mu.Unlock()
	// Lease takes and shard syncs stop at Shutdown; renewals go on until every consumer released.
	takeCtx, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	renewCtx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); w.renewLoop(renewCtx) }()
	go func() { defer loops.Done(); w.takeLoop(takeCtx) }()
	w.log.LogAttrs(ctx, slog.LevelInfo, "worker started")

	var err error
	select {
	case <-w.shutdownCh:
		err = ErrWorkerClosed
		stopTaking()
		w.requestAll()
	case <-ctx.Done():
		err = ctx.Err()
	}
	w.wg.Wait() // consumers: released (graceful) or told LeaseLost (hard)
	stopTaking()
	stopRenewing()
	loops.Wait()
	w.hooks.onCurrent(0)
	w.log.LogAttrs(context.Background(), slog.LevelInfo, "worker stopped", slog.Any("err", err))
	return err
}

// Shutdown stops taking leases, calls Shutdown(Requested) on every processor (after its batch in progress)
// so it can checkpoint, releases the leases so other workers take them at once, and waits for Run to
// return. It returns ctx's error if that takes longer than ctx allows (Run then keeps going until done;
// cancel Run's context to stop hard). Calling Shutdown before Run makes Run return ErrWorkerClosed.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.shutdownOnce.Do(func() {
		w.mu.Lock()
		w.draining = true
		started := w.started
		w.mu.Unlock()
		close(w.shutdownCh)
		if !started {
			w.mu.Lock()
			w.started = true // Run will return ErrWorkerClosed at once
			w.mu.Unlock()
			close(w.runDone)
		}
	})
	select {
	case <-w.runDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shards returns the IDs of the shards this worker currently holds leases for, sorted.
func (w *Worker) Shards() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.consumers))
	for id := range w.consumers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (w *Worker) stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.draining
}

func (w *Worker) heldLeases() []*held {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*held, 0, len(w.consumers))
	for _, c := range w.consumers {
		out = append(out, c.h)
	}
	return out
}

func (w *Worker) runningKeys() map[string]struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]struct{}, len(w.consumers))
	for id := range w.consumers {
		out[id] = struct{}{}
	}
	return out
}

func (w *Worker) requestAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.consumers {
		c.requestShutdown()
	}
}

// startConsumer starts the shard consumer of a lease just taken; false when the worker is shutting down.
// Consumers are children of the Run context captured by takeLoop (runCtx).
func (w *Worker) startConsumer(l lease.Lease) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining || w.runCtx == nil || w.runCtx.Err() != nil {
		return false
	}
	if _, dup := w.consumers[l.Key]; dup {
		return true
	}
	ctx, cancel := context.WithCancel(w.runCtx)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	c := &shardConsumer{
		w: w, shardID: l.Key, log: w.log.With("shard_id", l.Key),
		ctx: ctx, cancel: cancel, fetchCtx: fetchCtx, stopFetch: stopFetch,
		done:        make(chan struct{}),
		retryPolicy: backoff.Policy{Base: w.cfg.retryBackoff, Max: 10 * time.Second},
	}
	c.h = newHeld(l, func(error) { cancel() })
	w.consumers[l.Key] = c
	n := len(w.consumers)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer stopFetch()
		c.run()
		w.mu.Lock()
		delete(w.consumers, l.Key)
		n := len(w.consumers)
		w.mu.Unlock()
		w.hooks.onCurrent(n)
	}()
	w.hooks.onCurrent(n)
	return true
}

func (w *Worker) renewLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.renewInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.renewAll(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// takeLoop runs a take round every take interval and a shard sync at start and then every shard sync
// interval when this worker is the leader (isLeader). The first shard sync is retried until it succeeds,
// so a fleet starting on an empty table creates the leases (each exactly once: conditional creates).
func (w *Worker) takeLoop(ctx context.Context) {
	take := time.NewTimer(0)
	defer take.Stop()
	sync := time.NewTimer(0)
	defer sync.Stop()
	synced, syncFailures := false, 0
	var listed []lease.Lease
	for {
		select {
		case <-ctx.Done():
			return
		case <-take.C:
			all, err := w.takeRound(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.log.LogAttrs(ctx, slog.LevelWarn, "take round failed", slog.Any("err", err))
			} else {
				listed = all
			}
			take.Reset(w.cfg.takeInterval)
		case <-sync.C:
			leader := !synced || isLeader(listed, w.tracker, w.leases.Owner())
			if leader {
				n, err := w.syncShards(ctx, synced)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					d := backoff.Policy{Base: time.Second, Max: w.cfg.shardSyncInterval}.Delay(syncFailures)
					syncFailures++
					w.log.LogAttrs(ctx, slog.LevelWarn, "shard sync failed", slog.Any("err", err), slog.Duration("retry_in", d))
					sync.Reset(d)
					continue
				}
				if n > 0 && !synced { // new leases: take them now rather than a take interval later
					take.Reset(0)
				}
				synced, syncFailures = true, 0
			}
			sync.Reset(w.cfg.shardSyncInterval)
		}
	}
}

// newRetriever returns the retriever for one shard: polling (enhanced fan-out plugs in here).
func (w *Worker) newRetriever(ctx context.Context, rc retrievalConfig, log *slog.Logger) retriever {
	return newPoller(ctx, w.kc, rc, &w.cfg, w.hooks, log)
}
