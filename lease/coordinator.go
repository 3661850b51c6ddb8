package lease

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// renewParallelism bounds concurrent renewals in one RenewAll.
const renewParallelism = 16

// A Coordinator holds this worker's leases: it renews them every RenewInterval, takes and steals leases
// every TakeInterval (see planTakes in taker.go for the balancing rules), and serialises every write to a
// held lease (renewal, checkpoint, release) so they never fail each other's counter condition.
//
// A KCL-style scheduler uses it like this:
//
//	c := lease.NewCoordinator(m)
//	go c.Run(ctx)                   // or call RenewAll and TakeRound on its own timers
//	for {
//		select {
//		case <-c.Changed():         // leases taken or lost: diff c.Held() against running consumers
//		case <-ctx.Done():
//		}
//	}
//	// consumers checkpoint through c.Checkpoint(ctx, shardID, seq, subSeq); ErrLeaseLost means stop.
//	// graceful shutdown: c.StopTaking(); let consumers checkpoint; c.ReleaseAll(ctx); cancel Run's ctx.
//
// A lease is dropped from the held set (HookLeaseLost, Changed) when a write finds it taken, or when it
// could not be renewed for the failover time: by then other workers may take it. Held never returns a
// lease that has gone unrenewed for the failover time.
//
// A Coordinator is safe for concurrent use.
type Coordinator struct {
	m       *Manager
	tracker *Tracker

	mu       sync.Mutex // guards the fields below; never held across I/O or channel waits
	held     map[string]*heldLease
	released map[string]time.Time // keys this worker released recently: not retaken for a failover time
	// handedOver: keys this worker handed to a requester recently. Not stolen back for a failover time,
	// but taken at once if the new owner releases them (a handed-over lease is not ours to protect).
	handedOver map[string]time.Time
	// requested holds the keys this worker asked their live owners to hand over (balance steals done
	// gracefully), adopted once the owner transferred them; dropped when the lease went elsewhere.
	requested map[string]request
	stopped   bool // StopTaking was called
	deferHO   bool // DeferHandoffs was called
	running   bool

	changed chan struct{} // cap 1: coalesced "held set changed" signal
	trigger chan struct{} // cap 1: run a take round now
	takeSem chan struct{} // cap 1: one take round at a time
}

// A request is a handoff this worker asked a live owner for.
type request struct {
	owner string    // the owner asked
	at    time.Time // when the request was written
}

type heldLease struct {
	lease       Lease     // guarded by Coordinator.mu
	lastRenewed time.Time // start of the last successful write; guarded by Coordinator.mu
	askedAt     time.Time // when a handoff request was first seen; guarded by Coordinator.mu
	// uncertain: a write failed without an answer (timeout, network), so it may have been applied and
	// lease may be stale; the next write re-reads the lease first. Guarded by Coordinator.mu.
	uncertain bool
	sem       chan struct{} // held by the write in progress (renewal, checkpoint, release, handoff)
}

// NewCoordinator returns a Coordinator for m's owner and table, configured by m's options. It starts
// nothing; call Run, or RenewAll and TakeRound.
func NewCoordinator(m *Manager) *Coordinator {
	return &Coordinator{
		m:          m,
		tracker:    NewTracker(m.cfg.failover),
		held:       map[string]*heldLease{},
		released:   map[string]time.Time{},
		handedOver: map[string]time.Time{},
		requested:  map[string]request{},
		changed:    make(chan struct{}, 1),
		trigger:    make(chan struct{}, 1),
		takeSem:    make(chan struct{}, 1),
	}
}

// Manager returns the Manager the Coordinator writes through.
func (c *Coordinator) Manager() *Manager { return c.m }

// Tracker returns the expiry view the take rounds feed (useful for status output and shard sync).
func (c *Coordinator) Tracker() *Tracker { return c.tracker }

// Run renews held leases every RenewInterval and runs a take round at once and then every TakeInterval
// (or when Trigger is called), until ctx ends. It returns ctx's error after both loops have stopped. It
// first checks the table (Manager.CheckTable) and returns its *RefusedError at once for a table it must
// not join. Run
// does not release leases: cancelling ctx is the hard stop (others take the leases after the failover
// time); see ReleaseAll for the graceful one. Only one Run may be active at a time.
func (c *Coordinator) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("lease: Coordinator.Run called while running")
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	if err := c.m.CheckTable(ctx); errors.Is(err, ErrTableRefused) {
		c.m.log.Error("lease table refused", "err", err)
		return err
	} else if err != nil && ctx.Err() == nil {
		c.m.log.Warn("lease table check failed; it runs again before the first write", "err", err)
	}

	var wg sync.WaitGroup
	wg.Go(func() { c.renewLoop(ctx) })
	wg.Go(func() { c.takeLoop(ctx) })
	wg.Go(func() { c.handoffLoop(ctx) })
	wg.Wait()
	return ctx.Err()
}

func (c *Coordinator) renewLoop(ctx context.Context) {
	t := time.NewTicker(c.m.cfg.renewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.RenewAll(ctx)
	}
}

func (c *Coordinator) takeLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.trigger:
		}
		_, _ = c.TakeRound(ctx) // failures are logged and reported to HookTakeRound
		t.Reset(c.m.cfg.takeInterval)
	}
}

// handoffWatch is how often an old request (one the owner has not honoured within the failover time) is
// checked: one GetItem per such request; none when there is none.
func (c *Coordinator) handoffWatch() time.Duration {
	return min(c.m.cfg.renewInterval, c.m.cfg.takeInterval) / 4
}

// handoffPollInterval is how often Run reads a lease this worker requested, from the request until the
// failover time has passed: the owner hands it over at any moment after its next renewal, and the shard
// waits from the owner's last batch until the requester has read the transfer, so that wait is at most
// this interval plus one read. It costs one consistent GetItem per outstanding request per interval
// (balance steals only; none in a balanced fleet).
const handoffPollInterval = 50 * time.Millisecond

// handoffPoll is handoffPollInterval, or handoffWatch when that is shorter.
func (c *Coordinator) handoffPoll() time.Duration { return min(handoffPollInterval, c.handoffWatch()) }

func (c *Coordinator) handoffLoop(ctx context.Context) {
	fast, slow := c.handoffPoll(), c.handoffWatch()
	t := time.NewTicker(fast)
	defer t.Stop()
	var lastAll time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Young requests every tick; requests older than the failover time only every handoffWatch.
		all := time.Since(lastAll) >= slow
		if all {
			lastAll = time.Now()
		}
		c.checkHandoffs(ctx, all)
	}
}

// CheckHandoffs reads every lease this worker requested a handoff of and adopts those transferred to it
// (Run reads each request every 50 ms during the failover time after it, then every
// min(RenewInterval, TakeInterval)/4; take rounds adopt them too).
func (c *Coordinator) CheckHandoffs(ctx context.Context) { c.checkHandoffs(ctx, true) }

// checkHandoffs is CheckHandoffs on the requests made within the failover time, or on all of them.
func (c *Coordinator) checkHandoffs(ctx context.Context, all bool) {
	now := time.Now()
	c.mu.Lock()
	keys := make([]string, 0, len(c.requested))
	for k, r := range c.requested {
		if all || now.Sub(r.at) <= c.m.cfg.failover {
			keys = append(keys, k)
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, c.m.cfg.renewTimeout)
		l, err := c.m.Get(rctx, k)
		cancel()
		switch {
		case errors.Is(err, ErrNotFound):
			c.mu.Lock()
			delete(c.requested, k)
			c.mu.Unlock()
		case err != nil:
			if ctx.Err() != nil {
				return
			}
		default:
			if c.settleRequest(ctx, l, start) {
				c.signal()
			}
		}
	}
}

// settleRequest looks at a fresh copy l (read at or after start) of a lease this worker may have requested:
// transferred to it → adopted (true); gone elsewhere → request forgotten; still pending → kept.
func (c *Coordinator) settleRequest(ctx context.Context, l Lease, start time.Time) bool {
	c.mu.Lock()
	r, asked := c.requested[l.Key]
	prev := r.owner
	_, holding := c.held[l.Key]
	switch {
	case !asked:
		c.mu.Unlock()
		return false
	case l.Owner == c.m.owner && !holding && !c.stopped:
		delete(c.requested, l.Key)
		c.held[l.Key] = &heldLease{lease: l, lastRenewed: start, sem: make(chan struct{}, 1)}
		c.mu.Unlock()
		c.m.log.Info("lease taken", "lease_key", l.Key, "previous_owner", prev, "reason", TakenStolen.String(), "handoff", true)
		c.m.hooks.onTaken(TakenEvent{Lease: l.clone(), PreviousOwner: prev, Reason: TakenStolen})
		return true
	case l.Owner == c.m.owner && !holding: // handed over while shutting down: give it back at once
		delete(c.requested, l.Key)
		c.mu.Unlock()
		if err := c.m.Release(ctx, l); err != nil {
			c.m.log.Warn("releasing a lease handed over during shutdown failed", "lease_key", l.Key, "err", err)
		}
		return false
	case l.PendingOwner != c.m.owner:
		delete(c.requested, l.Key)
	case l.Owner != "" && !l.OwnedByShardwise(): // a Java worker took it: it will never hand it over
		delete(c.requested, l.Key)
		c.mu.Unlock()
		if _, err := c.m.CancelHandoff(ctx, l.Key); err != nil {
			c.m.log.Warn("withdrawing a handoff request from a Java-owned lease failed", "lease_key", l.Key, "err", err)
		}
		return false
	}
	c.mu.Unlock()
	return false
}

// Trigger asks a running Run to start a take round now (for example after shard sync created leases). It
// never blocks; triggers while a round is pending coalesce.
func (c *Coordinator) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Changed returns a channel that receives a value (coalesced) whenever the held set changes: a lease
// taken, lost or released. Read Held after receiving.
func (c *Coordinator) Changed() <-chan struct{} { return c.changed }

func (c *Coordinator) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Held returns copies of the leases this worker holds, sorted by key, leaving out any lease not renewed
// within the failover time.
func (c *Coordinator) Held() []Lease {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Lease, 0, len(c.held))
	for _, h := range c.held {
		if now.Sub(h.lastRenewed) <= c.m.cfg.failover {
			out = append(out, h.lease.clone())
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Lease returns the current copy of a held lease, like Held.
func (c *Coordinator) Lease(key string) (Lease, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.held[key]
	if !ok || time.Since(h.lastRenewed) > c.m.cfg.failover {
		return Lease{}, false
	}
	return h.lease.clone(), true
}

// DeferHandoffs makes the caller responsible for handing over leases other workers requested (balance
// steals, Lease.PendingOwner set, Changed signalled): it stops processing the shard, checkpoints and calls
// Release, which transfers the lease to the requester. A request not honoured within the failover time is
// honoured by the Coordinator itself at a renewal. Without DeferHandoffs the Coordinator hands requested
// leases over at once (at the renewal or take round that sees the request). Call it before Run.
func (c *Coordinator) DeferHandoffs() {
	c.mu.Lock()
	c.deferHO = true
	c.mu.Unlock()
}

// StopTaking makes every later take round do nothing (the first step of a graceful shutdown). Renewals
// and checkpoints go on.
func (c *Coordinator) StopTaking() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

func (c *Coordinator) handoffsDeferred() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deferHO
}

func (c *Coordinator) takingStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drop removes h from the held set (if still there) and reports the loss.
func (c *Coordinator) drop(h *heldLease, cause error) {
	c.mu.Lock()
	key := h.lease.Key
	if c.held[key] != h {
		c.mu.Unlock()
		return
	}
	delete(c.held, key)
	last := h.lease.clone()
	c.mu.Unlock()
	c.m.log.Info("lease lost", "lease_key", key, "err", cause)
	c.m.hooks.onLost(LostEvent{Lease: last, Err: cause})
	c.signal()
}

// RenewAll renews every held lease once, concurrently, each call bounded by RenewTimeout, and returns
// when all are done. Leases found taken, or not renewed for the failover time, are dropped.
func (c *Coordinator) RenewAll(ctx context.Context) {
	now := time.Now()
	var todo []*heldLease
	stale := map[string]*heldLease{}
	c.mu.Lock()
	for key, h := range c.held {
		if now.Sub(h.lastRenewed) > c.m.cfg.failover {
			stale[key] = h
		} else {
			todo = append(todo, h)
		}
	}
	c.mu.Unlock()
	for key, h := range stale {
		c.drop(h, fmt.Errorf("lease: %q not renewed within the failover time %v: %w", key, c.m.cfg.failover, ErrLeaseLost))
	}
	var wg sync.WaitGroup
	limit := make(chan struct{}, renewParallelism)
	for _, h := range todo {
		if acquire(ctx, limit) != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-limit }()
			c.renewOne(ctx, h)
		})
	}
	wg.Wait()
}

// renewOne renews h. A write to h in progress (a checkpoint) is waited for at most RenewTimeout; every
// such write is itself bounded by RenewTimeout, so a hung checkpoint delays a renewal by one deadline at
// most and never stops the renewal of other leases.
func (c *Coordinator) renewOne(ctx context.Context, h *heldLease) {
	wctx, wcancel := context.WithTimeout(ctx, c.m.cfg.renewTimeout)
	err := acquire(wctx, h.sem)
	wcancel()
	if err != nil {
		if ctx.Err() == nil {
			c.mu.Lock()
			key := h.lease.Key
			c.mu.Unlock()
			c.m.log.Warn("lease renewal skipped: a write to the lease is in progress", "lease_key", key)
		}
		return
	}
	defer func() { <-h.sem }()
	c.mu.Lock()
	key := h.lease.Key
	last, ok := h.lastRenewed, c.held[key] == h
	c.mu.Unlock()
	if !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.m.cfg.renewTimeout)
	start := time.Now()
	l, err := c.current(rctx, h)
	var nl Lease
	if err == nil {
		nl, err = c.m.Renew(rctx, l)
	}
	err = c.settle(ctx, rctx, h, err)
	cancel()
	switch {
	case err == nil:
		c.mu.Lock()
		h.lease, h.lastRenewed, h.uncertain = nl, start, false
		first := c.noteRequestLocked(h, start)
		handOver := nl.PendingOwner != "" && (!c.deferHO || start.Sub(h.askedAt) > c.m.cfg.failover)
		c.mu.Unlock()
		if handOver {
			c.handOverLocked(ctx, h, nl)
		} else if first {
			c.handoffRequested(nl)
		}
	case errors.Is(err, ErrLeaseLost):
		c.drop(h, err)
	case ctx.Err() != nil:
		// shutting down: not the lease's fault
	case time.Since(last) > c.m.cfg.failover:
		c.drop(h, fmt.Errorf("lease: %q not renewed within the failover time: %w (last error: %v)", key, ErrLeaseLost, err))
	default:
		c.m.log.Warn("lease renewal failed; will retry", "lease_key", key, "err", err)
	}
}

// handOverLocked transfers h (current copy l) to its requester; h.sem is held.
func (c *Coordinator) handOverLocked(ctx context.Context, h *heldLease, l Lease) {
	rctx, cancel := context.WithTimeout(ctx, c.m.cfg.renewTimeout)
	defer cancel()
	if _, err := c.m.Handoff(rctx, l); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			c.drop(h, err)
		} else {
			c.mu.Lock()
			h.uncertain = true
			c.mu.Unlock()
		}
		return
	}
	c.mu.Lock()
	if c.held[l.Key] == h {
		delete(c.held, l.Key)
		c.handedOver[l.Key] = time.Now()
	}
	c.mu.Unlock()
	c.signal()
}

// noteRequestLocked records when a handoff request on h's current copy was first seen; true the first
// time. c.mu is held.
func (c *Coordinator) noteRequestLocked(h *heldLease, at time.Time) bool {
	if h.lease.PendingOwner == "" || !h.askedAt.IsZero() {
		return false
	}
	h.askedAt = at
	return true
}

func (c *Coordinator) handoffRequested(l Lease) {
	c.m.log.Info("lease handoff requested", "lease_key", l.Key, "requester", l.PendingOwner)
	c.signal()
}

// current returns h's copy to write from: after an unanswered write (h.uncertain) the lease is read again
// first, and found taken it is reported as ErrLeaseLost. h.sem is held.
func (c *Coordinator) current(ctx context.Context, h *heldLease) (Lease, error) {
	c.mu.Lock()
	l, uncertain := h.lease, h.uncertain
	c.mu.Unlock()
	if !uncertain {
		return l, nil
	}
	cur, err := c.m.Get(ctx, l.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		return Lease{}, fmt.Errorf("lease: %q deleted: %w", l.Key, ErrLeaseLost)
	case err != nil:
		return Lease{}, err
	case cur.Owner != c.m.owner:
		return Lease{}, fmt.Errorf("lease: %q now owned by %q: %w", l.Key, cur.Owner, ErrLeaseLost)
	}
	c.mu.Lock()
	if c.held[l.Key] == h {
		h.lease, h.uncertain = cur, false
	}
	c.mu.Unlock()
	c.m.log.Info("lease re-read after an unanswered write", "lease_key", l.Key, "counter", cur.Counter)
	return cur, nil
}

// settle classifies the outcome of a write to h made under wctx (a child of ctx): an error that leaves the
// write's fate unknown marks h uncertain, and a write cut short by wctx becomes ErrTimeout.
func (c *Coordinator) settle(ctx, wctx context.Context, h *heldLease, err error) error {
	if err == nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrTableRefused) {
		return err
	}
	c.mu.Lock()
	h.uncertain = true
	c.mu.Unlock()
	if ctx.Err() == nil && wctx.Err() != nil && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w after %v: %w", ErrTimeout, c.m.cfg.renewTimeout, err)
	}
	return err
}

// withHeld runs write on the current copy of held lease key while no other write to it runs, and stores the
// result. The write runs under a deadline of RenewTimeout (so renewals, which wait for it, are never held
// up longer). ErrLeaseLost drops the lease.
func (c *Coordinator) withHeld(ctx context.Context, key string, write func(context.Context, Lease) (Lease, error)) (Lease, error) {
	c.mu.Lock()
	h := c.held[key]
	c.mu.Unlock()
	if h == nil {
		return Lease{}, fmt.Errorf("lease: %q is not held by %s: %w", key, c.m.owner, ErrLeaseLost)
	}
	if err := acquire(ctx, h.sem); err != nil {
		return Lease{}, err
	}
	defer func() { <-h.sem }()
	c.mu.Lock()
	ok := c.held[key] == h
	c.mu.Unlock()
	if !ok {
		return Lease{}, fmt.Errorf("lease: %q is not held by %s: %w", key, c.m.owner, ErrLeaseLost)
	}
	wctx, cancel := context.WithTimeout(ctx, c.m.cfg.renewTimeout)
	defer cancel()
	start := time.Now()
	l, err := c.current(wctx, h)
	var nl Lease
	if err == nil {
		nl, err = write(wctx, l)
	}
	err = c.settle(ctx, wctx, h, err)
	switch {
	case err == nil:
		c.mu.Lock()
		first := false
		if c.held[key] == h { // not a handoff or release, which removed it
			h.lease, h.lastRenewed, h.uncertain = nl, start, false
			first = c.noteRequestLocked(h, start)
		}
		c.mu.Unlock()
		if first {
			c.handoffRequested(nl)
		}
	case errors.Is(err, ErrLeaseLost):
		c.drop(h, err)
	}
	return nl, err
}

// Checkpoint is Manager.Checkpoint on the held lease key. ErrLeaseLost (also when the lease is not held)
// means processing of the shard must stop.
func (c *Coordinator) Checkpoint(ctx context.Context, key, seq string, subSeq int64) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, error) { return c.m.Checkpoint(ctx, l, seq, subSeq) })
}

// PrepareCheckpoint is Manager.PrepareCheckpoint on the held lease key.
func (c *Coordinator) PrepareCheckpoint(ctx context.Context, key, seq string, subSeq int64, state []byte) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, error) {
		return c.m.PrepareCheckpoint(ctx, l, seq, subSeq, state)
	})
}

// CheckpointShardEnd is Manager.CheckpointShardEnd on the held lease key.
func (c *Coordinator) CheckpointShardEnd(ctx context.Context, key string, children []string) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, error) {
		return c.m.CheckpointShardEnd(ctx, l, children)
	})
}

// UpdateChildShards is Manager.UpdateChildShards on the held lease key.
func (c *Coordinator) UpdateChildShards(ctx context.Context, key string, children []string) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, error) {
		return c.m.UpdateChildShards(ctx, l, children)
	})
}

// Release gives up the held lease key (Manager.Release) so other workers take it in their next take round,
// or, when another worker requested it (Lease.PendingOwner), hands it over to that worker
// (Manager.Handoff); this worker does not take it back for a failover time. It returns ErrLeaseLost if the
// lease was not held.
func (c *Coordinator) Release(ctx context.Context, key string) error {
	var released *heldLease
	_, err := c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, error) {
		handed := l.PendingOwner != ""
		if handed {
			if _, err := c.m.Handoff(ctx, l); err != nil {
				return Lease{}, err
			}
		} else if err := c.m.Release(ctx, l); err != nil {
			return Lease{}, err
		}
		c.mu.Lock()
		released = c.held[key]
		delete(c.held, key)
		if handed {
			c.handedOver[key] = time.Now()
		} else {
			c.released[key] = time.Now()
		}
		c.mu.Unlock()
		return l, nil
	})
	if err == nil && released != nil {
		c.signal()
	}
	return err
}

// ReleaseAll stops taking (StopTaking), waits for a take round in progress, withdraws this worker's
// pending handoff requests (releasing any lease handed over meanwhile), then releases every held lease. Leases that turn out to be lost already are skipped; other failures are joined into the error.
func (c *Coordinator) ReleaseAll(ctx context.Context) error {
	c.StopTaking()
	if err := acquire(ctx, c.takeSem); err != nil {
		return err
	}
	<-c.takeSem // no round runs now, and none will take anything
	// Withdraw pending handoff requests, then settle them: a lease handed over meanwhile is released.
	c.mu.Lock()
	keys := make([]string, 0, len(c.requested))
	for k := range c.requested {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if _, err := c.m.CancelHandoff(ctx, k); err != nil {
			c.m.log.Warn("withdrawing a handoff request failed", "lease_key", k, "err", err)
		}
	}
	c.CheckHandoffs(ctx)
	var errs []error
	for _, l := range c.Held() {
		if err := c.Release(ctx, l.Key); err != nil && !errors.Is(err, ErrLeaseLost) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TakeRound scans the table once, feeds the Tracker and takes what planTakes chooses: available leases
// up to the target, then steals (see taker.go). It returns the leases taken. A lease another worker took
// first is skipped silently; the error reports a failed scan. Rounds are serialised.
func (c *Coordinator) TakeRound(ctx context.Context) ([]Lease, error) {
	if err := acquire(ctx, c.takeSem); err != nil {
		return nil, err
	}
	defer func() { <-c.takeSem }()
	if c.takingStopped() {
		return nil, nil
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.m.cfg.failover)
	defer cancel()

	ev := TakeRoundEvent{}
	defer func() {
		ev.Latency = time.Since(start)
		c.m.hooks.onTakeRound(ev)
	}()
	leases, err := c.m.List(rctx)
	if err != nil {
		ev.Err = err
		c.m.log.Warn("lease scan failed", "err", err)
		return nil, err
	}
	c.tracker.Observe(leases)

	adopted, noticed, orphans := false, []Lease(nil), []Lease(nil)
	for _, l := range leases {
		if l.Owner != c.m.owner {
			if c.settleRequest(ctx, l, start) {
				adopted = true
			}
			continue
		}
		c.mu.Lock()
		h := c.held[l.Key]
		if h == nil {
			_, asked := c.requested[l.Key]
			c.mu.Unlock()
			if c.settleRequest(ctx, l, start) {
				adopted = true
			} else if !asked {
				orphans = append(orphans, l)
			}
			continue
		}
		// A request, once written, stays until the owner changes: safe to copy onto any held copy.
		if l.PendingOwner != "" && h.lease.PendingOwner == "" {
			h.lease.PendingOwner = l.PendingOwner
		}
		if c.noteRequestLocked(h, start) {
			noticed = append(noticed, l)
		}
		c.mu.Unlock()
	}
	for _, l := range noticed {
		if c.handoffsDeferred() {
			c.handoffRequested(l)
			continue
		}
		c.mu.Lock()
		h := c.held[l.Key]
		c.mu.Unlock()
		if h != nil && acquire(ctx, h.sem) == nil {
			c.mu.Lock()
			cur, ok := h.lease, c.held[l.Key] == h
			c.mu.Unlock()
			if ok {
				c.handOverLocked(ctx, h, cur)
			}
			<-h.sem
		}
	}
	if adopted {
		c.signal()
	}

	c.mu.Lock()
	skip := map[string]bool{}
	for k, at := range c.released {
		if start.Sub(at) > c.m.cfg.failover {
			delete(c.released, k)
		} else {
			skip[k] = true
		}
	}
	for k := range c.held {
		skip[k] = true
	}
	handedOver := map[string]bool{}
	for k, at := range c.handedOver {
		if start.Sub(at) > c.m.cfg.failover {
			delete(c.handedOver, k)
		} else {
			handedOver[k] = true
		}
	}
	c.mu.Unlock()

	// Leases the table says are this worker's but that it does not hold: a take whose answer never came
	// (a timeout after DynamoDB applied it), or a lease dropped after a renewal outage that nobody took
	// meanwhile. Taken again at once (conditional on the counter, like any take) instead of being left to
	// expire.
	var taken []Lease
	for _, l := range orphans {
		if c.takingStopped() {
			break
		}
		t0 := time.Now()
		nl, err := c.m.Take(rctx, l)
		if err != nil {
			c.m.log.Debug("taking back an orphaned lease failed", "lease_key", l.Key, "err", err)
			continue
		}
		c.mu.Lock()
		c.held[nl.Key] = &heldLease{lease: nl, lastRenewed: t0, sem: make(chan struct{}, 1)}
		c.mu.Unlock()
		skip[nl.Key] = true
		taken = append(taken, nl.clone())
		ev.Taken++
		c.m.log.Info("lease taken", "lease_key", nl.Key, "previous_owner", l.Owner, "reason", TakenUnowned.String(), "orphaned", true)
		c.m.hooks.onTaken(TakenEvent{Lease: nl.clone(), PreviousOwner: l.Owner, Reason: TakenUnowned})
	}

	states := c.tracker.States()
	for _, st := range states {
		if handedOver[st.Lease.Key] && st.Lease.Owner != "" {
			skip[st.Lease.Key] = true // owned by the worker we handed it to: do not steal it back
		}
	}
	plan := planTakes(states, c.m.owner, c.m.cfg.maxSteal, c.m.cfg.maxLeases, skip)
	ev.Leases, ev.Workers, ev.Target, ev.Held, ev.Available = plan.leases, plan.workers, plan.target, plan.mine, plan.available
	spare := plan.spare
	for i := 0; i < len(plan.take); i++ {
		cand := plan.take[i]
		if c.takingStopped() {
			break
		}
		t0 := time.Now()
		if cand.reason == TakenStolen { // graceful: the owner hands it over after its batch in progress
			if _, err := c.m.RequestHandoff(rctx, cand.lease); err != nil {
				if !errors.Is(err, ErrConflict) {
					c.m.log.Warn("lease handoff request failed", "lease_key", cand.lease.Key, "err", err)
				}
				continue
			}
			c.mu.Lock()
			c.requested[cand.lease.Key] = request{owner: cand.lease.Owner, at: t0}
			c.mu.Unlock()
			ev.Stolen++
			c.m.log.Info("lease handoff requested", "lease_key", cand.lease.Key, "owner", cand.lease.Owner)
			continue
		}
		nl, err := c.m.Take(rctx, cand.lease)
		if err != nil {
			if !errors.Is(err, ErrConflict) {
				c.m.log.Warn("lease take failed", "lease_key", cand.lease.Key, "err", err)
			} else if len(spare) > 0 { // another worker was first: try the next available lease now
				plan.take = append(plan.take, spare[0])
				spare = spare[1:]
			}
			continue
		}
		c.mu.Lock()
		c.held[nl.Key] = &heldLease{lease: nl, lastRenewed: t0, sem: make(chan struct{}, 1)}
		c.mu.Unlock()
		taken = append(taken, nl.clone())
		ev.Taken++
		c.m.log.Info("lease taken", "lease_key", nl.Key, "previous_owner", cand.lease.Owner, "reason", cand.reason.String())
		c.m.hooks.onTaken(TakenEvent{Lease: nl.clone(), PreviousOwner: cand.lease.Owner, Reason: cand.reason})
	}
	if len(taken) > 0 {
		c.signal()
	}
	return taken, nil
}
