package kcl

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// Lease ownership (renewer and taker) on top of lease.Manager and lease.Tracker. Writes to one held lease
// (renewals, checkpoints, shard end, release) are serialised by held.sem so each carries the latest
// counter; the semaphore is a channel so tests under testing/synctest see waits on it as durable.

// held is one lease this worker holds.
type held struct {
	key string
	sem chan struct{} // one slot: holder may write the lease
	cur lease.Lease   // latest copy; guarded by sem
	ok  time.Time     // last successful write (renewal or checkpoint); guarded by sem

	lostOnce sync.Once
	lost     chan struct{} // closed when the lease is lost
	lostErr  error         // set before lost is closed
	onLost   func(error)   // called once, before lost is closed
}

func newHeld(l lease.Lease, onLost func(error)) *held {
	return &held{key: l.Key, sem: make(chan struct{}, 1), cur: l, ok: time.Now(), lost: make(chan struct{}), onLost: onLost}
}

func (h *held) markLost(err error) {
	h.lostOnce.Do(func() {
		h.lostErr = err
		if h.onLost != nil {
			h.onLost(err)
		}
		close(h.lost)
	})
}

func (h *held) isLost() bool {
	select {
	case <-h.lost:
		return true
	default:
		return false
	}
}

// do runs fn on the latest copy of the lease with exclusive write access and stores the copy fn returns.
// An ErrLeaseLost from fn marks the lease lost; a lost lease fails every later do with ErrLeaseLost.
func (h *held) do(ctx context.Context, fn func(l lease.Lease) (lease.Lease, error)) error {
	select {
	case h.sem <- struct{}{}:
	case <-h.lost:
		return fmt.Errorf("kcl: lease %s: %w", h.key, h.lostErr)
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.sem }()
	if h.isLost() {
		return fmt.Errorf("kcl: lease %s: %w", h.key, h.lostErr)
	}
	nl, err := fn(h.cur)
	switch {
	case err == nil:
		h.cur, h.ok = nl, time.Now()
	case isLeaseLost(err):
		h.markLost(err)
	}
	return err
}

// snapshot returns the latest copy (waiting for a write in progress).
func (h *held) snapshot(ctx context.Context) (lease.Lease, error) {
	var out lease.Lease
	err := h.do(ctx, func(l lease.Lease) (lease.Lease, error) { out = l; return l, nil })
	return out, err
}

// renewAll renews every held lease once, concurrently, each bounded by the renew timeout. A lease whose
// renewal finds it taken is lost at once; one that could not be renewed (DynamoDB errors) for the failover
// time minus the renew timeout is given up too, since other workers may already judge it expired.
func (w *Worker) renewAll(ctx context.Context) {
	hs := w.heldLeases()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, w.renewTimeout)
			defer cancel()
			err := h.do(rctx, func(l lease.Lease) (lease.Lease, error) {
				nl, err := w.leases.Renew(rctx, l)
				if err != nil && !isLeaseLost(err) && time.Since(h.ok) > w.failover-w.renewTimeout {
					return l, fmt.Errorf("kcl: renewals of %s failed for the failover time: %w (last: %w)", l.Key, lease.ErrLeaseLost, err)
				}
				return nl, err
			})
			if err != nil && ctx.Err() == nil && !isLeaseLost(err) {
				w.log.LogAttrs(ctx, slog.LevelWarn, "lease renewal failed", slog.String("lease_key", h.key), slog.Any("err", err))
			}
		}()
	}
	wg.Wait()
}

// takeRound lists the table, judges expiry with the tracker and takes leases up to this worker's fair
// share: target = ceil(active leases / live workers), active meaning not finished (SHARD_END leases are
// released by their worker and only wait for cleanup). Available leases (unowned, expired, or owned by
// this worker's ID but not running here) are taken first, longest-unchanged first; if that is not enough,
// up to MaxLeasesToStealAtOnce leases are stolen from workers holding more than the target (never below
// it, which is the hysteresis: a balanced fleet never steals). It returns the listed leases.
func (w *Worker) takeRound(ctx context.Context) ([]lease.Lease, error) {
	all, err := w.leases.List(ctx)
	if err != nil {
		return nil, err
	}
	w.tracker.Observe(all)
	self := w.leases.Owner()
	running := w.runningKeys()
	counts := map[string]int{self: len(running)}
	var available []lease.LeaseState
	byOwner := map[string][]lease.LeaseState{}
	active := 0
	for _, s := range w.tracker.States() {
		if s.Lease.Finished() {
			continue
		}
		active++
		_, mine := running[s.Lease.Key]
		switch {
		case mine:
		case s.Available() || s.Lease.Owner == self:
			available = append(available, s)
		default:
			counts[s.Lease.Owner]++
			byOwner[s.Lease.Owner] = append(byOwner[s.Lease.Owner], s)
		}
	}
	target := (active + len(counts) - 1) / len(counts)
	if w.cfg.maxLeases > 0 {
		target = min(target, w.cfg.maxLeases)
	}
	need := target - len(running)
	if need <= 0 || w.stopping() {
		return all, nil
	}
	slices.SortFunc(available, func(a, b lease.LeaseState) int {
		return cmp.Compare(b.Unchanged, a.Unchanged) // longest unchanged first
	})
	for _, s := range available {
		if need == 0 {
			break
		}
		if w.take(ctx, s.Lease) {
			need--
		}
	}
	if need == 0 {
		return all, nil
	}
	owners := make([]string, 0, len(byOwner))
	for o := range byOwner {
		owners = append(owners, o)
	}
	slices.SortFunc(owners, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	stolen := 0
	for _, o := range owners {
		for _, s := range byOwner[o] {
			if need == 0 || stolen == w.cfg.maxSteal || counts[o] <= target {
				break
			}
			if w.take(ctx, s.Lease) {
				need--
				stolen++
				counts[o]--
			}
		}
	}
	return all, nil
}

// take takes one lease and starts its shard consumer; false when another worker won the race.
func (w *Worker) take(ctx context.Context, l lease.Lease) bool {
	nl, err := w.leases.Take(ctx, l)
	if err != nil {
		if ctx.Err() == nil {
			w.log.LogAttrs(ctx, slog.LevelDebug, "lease take lost a race", slog.String("lease_key", l.Key), slog.Any("err", err))
		}
		return false
	}
	w.log.LogAttrs(ctx, slog.LevelInfo, "lease taken", slog.String("lease_key", l.Key),
		slog.String("previous_owner", l.Owner), slog.String("checkpoint", nl.Checkpoint))
	if !w.startConsumer(nl) { // shutting down meanwhile: give it back at once
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.renewTimeout)
		defer cancel()
		_ = w.leases.Release(rctx, nl)
		return false
	}
	return true
}

// isLeader reports whether this worker runs the periodic shard sync and lease cleanup: the owner of the
// smallest-keyed live lease does, so exactly one worker of a running fleet syncs (two at most while
// ownership moves, which conditional writes make harmless). With no live lease at all, every worker may.
func isLeader(leases []lease.Lease, tracker *lease.Tracker, self string) bool {
	for _, l := range leases { // sorted by key
		if l.Owner == "" || l.Finished() || tracker.Expired(l.Key) {
			continue
		}
		return l.Owner == self
	}
	return true
}
