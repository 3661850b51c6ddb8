package lease

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/shardwise/shardwise/internal/leasecoord"
)

// renewParallelism bounds the renewals of one coordinator in flight at once.
const renewParallelism = 64

// Retries of a renewal within the lease's validity: the first after renewRetryMin, doubling up to
// renewRetryMax (the SDK's retryer has already retried each call).
const (
	renewRetryMin = 100 * time.Millisecond
	renewRetryMax = time.Second
)

// A coordinator holds this worker's leases: it renews them every RenewInterval, takes and steals leases
// every TakeInterval (see planTakes in taker.go for the balancing rules), and serialises every write to a
// held lease (renewal, checkpoint, release) so they never fail each other's counter condition.
//
// A KCL-style scheduler uses it like this:
//
//	c := lease.newCoordinator(m)
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
// lease that has gone unrenewed for the failover time. Renewals of different leases run independently,
// each retried within its lease's validity; writes are sent as copies when the table is slow (see
// hedged).
//
// A coordinator is safe for concurrent use.
type coordinator struct {
	m       *Manager
	cfg     config // m's, with the overrides of newCoordinatorWith
	tracker *tracker

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

	renewSlots chan struct{} // cap renewParallelism: renewals in flight

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
	lease       Lease     // guarded by coordinator.mu
	lastRenewed time.Time // start of the last successful write; guarded by coordinator.mu
	askedAt     time.Time // when a handoff request was first seen; guarded by coordinator.mu
	// uncertain: a write failed without an answer (timeout, network), so it may have been applied and
	// lease may be stale; the next write re-reads the lease first. Guarded by coordinator.mu.
	uncertain bool
	// uncertainSince: the start of the first write left unanswered since lease was known. A re-read
	// finding the counter moved on (still this worker's) proves that write, or a later one of ours,
	// applied after this instant, so the lease is renewed as of it. Guarded by coordinator.mu.
	uncertainSince time.Time
	renewing       bool          // a renewal of it is in flight; guarded by coordinator.mu
	sem            chan struct{} // held by the write in progress (renewal, checkpoint, release, handoff)
}

// validUntil is when h expires for this worker if no write to it succeeds: failover after the start of
// the last write known applied. c.mu is held.
func (c *coordinator) validUntilLocked(h *heldLease) time.Time {
	return h.lastRenewed.Add(c.cfg.failover)
}

// newCoordinator returns a coordinator for m's owner and table, configured by m's options. It starts
// nothing; call Run, or RenewAll and TakeRound.
func newCoordinator(m *Manager) *coordinator {
	return &coordinator{
		m:          m,
		cfg:        m.cfg,
		tracker:    newTracker(m.cfg.failover),
		held:       map[string]*heldLease{},
		released:   map[string]time.Time{},
		handedOver: map[string]time.Time{},
		requested:  map[string]request{},
		renewSlots: make(chan struct{}, renewParallelism),
		changed:    make(chan struct{}, 1),
		trigger:    make(chan struct{}, 1),
		takeSem:    make(chan struct{}, 1),
	}
}

// Manager returns the Manager the coordinator writes through.
func (c *coordinator) Manager() *Manager { return c.m }

// Leader returns the owner of the first lease, by key, that is owned, not expired and not finished
// ("" when there is none): the one worker of the fleet that runs shard sync and lease cleanup.
func (c *coordinator) Leader() string {
	for _, s := range c.tracker.States() { // sorted by key
		if s.Lease.Owner == "" || s.Expired || s.Lease.Finished() {
			continue
		}
		return s.Lease.Owner
	}
	return ""
}

// Run renews held leases every RenewInterval and runs a take round at once and then every TakeInterval
// (or when Trigger is called), until ctx ends. It returns ctx's error after both loops have stopped. It
// first checks the table (Manager.CheckTable) and returns its *RefusedError at once for a table it must
// not join. Run
// does not release leases: cancelling ctx is the hard stop (others take the leases after the failover
// time); see ReleaseAll for the graceful one. Only one Run may be active at a time.
func (c *coordinator) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("lease: coordinator.Run called while running")
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

// renewLoop starts, every RenewInterval, a renewal of each held lease that has none in flight: a slow
// renewal (a slow or throttled table) holds up no other lease's, and runs on, retrying, until it succeeds
// or its lease's validity ends. It waits for the renewals it started before returning.
func (c *coordinator) renewLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.renewInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.startRenewals(ctx, &wg)
	}
}

func (c *coordinator) takeLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.trigger:
		}
		_, _ = c.TakeRound(ctx) // failures are logged and reported to HookLeaseTakeRound
		t.Reset(c.cfg.takeInterval)
	}
}

// handoffWatch is how often an old request (one the owner has not honoured within the failover time) is
// checked: one GetItem per such request; none when there is none.
func (c *coordinator) handoffWatch() time.Duration {
	return min(c.cfg.renewInterval, c.cfg.takeInterval) / 4
}

// handoffPollInterval is how often Run reads a lease this worker requested, from the request until the
// failover time has passed: the owner hands it over at any moment after its next renewal, and the shard
// waits from the owner's last batch until the requester has read the transfer, so that wait is at most
// this interval plus one read. It costs one consistent GetItem per outstanding request per interval
// (balance steals only; none in a balanced fleet).
const handoffPollInterval = 50 * time.Millisecond

// handoffPoll is handoffPollInterval, or handoffWatch when that is shorter.
func (c *coordinator) handoffPoll() time.Duration { return min(handoffPollInterval, c.handoffWatch()) }

func (c *coordinator) handoffLoop(ctx context.Context) {
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
func (c *coordinator) CheckHandoffs(ctx context.Context) { c.checkHandoffs(ctx, true) }

// checkHandoffs is CheckHandoffs on the requests made within the failover time, or on all of them.
func (c *coordinator) checkHandoffs(ctx context.Context, all bool) {
	now := time.Now()
	c.mu.Lock()
	keys := make([]string, 0, len(c.requested))
	for k, r := range c.requested {
		if all || now.Sub(r.at) <= c.cfg.failover {
			keys = append(keys, k)
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, c.cfg.renewTimeout)
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
func (c *coordinator) settleRequest(ctx context.Context, l Lease, start time.Time) bool {
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
func (c *coordinator) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Changed returns a channel that receives a value (coalesced) whenever the held set changes: a lease
// taken, lost or released. Read Held after receiving.
func (c *coordinator) Changed() <-chan struct{} { return c.changed }

func (c *coordinator) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Held returns copies of the leases this worker holds, sorted by key, leaving out any lease not renewed
// within the failover time.
func (c *coordinator) Held() []Lease {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Lease, 0, len(c.held))
	for _, h := range c.held {
		if now.Sub(h.lastRenewed) <= c.cfg.failover {
			out = append(out, h.lease.clone())
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Lease returns the current copy of a held lease, like Held.
func (c *coordinator) Lease(key string) (Lease, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.held[key]
	if !ok || time.Since(h.lastRenewed) > c.cfg.failover {
		return Lease{}, false
	}
	return h.lease.clone(), true
}

// DeferHandoffs makes the caller responsible for handing over leases other workers requested (balance
// steals, Lease.PendingOwner set, Changed signalled): it stops processing the shard, checkpoints and calls
// Release, which transfers the lease to the requester. A request not honoured within the failover time is
// honoured by the coordinator itself at a renewal. Without DeferHandoffs the coordinator hands requested
// leases over at once (at the renewal or take round that sees the request). Call it before Run.
func (c *coordinator) DeferHandoffs() {
	c.mu.Lock()
	c.deferHO = true
	c.mu.Unlock()
}

// StopTaking makes every later take round do nothing (the first step of a graceful shutdown). Renewals
// and checkpoints go on.
func (c *coordinator) StopTaking() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

func (c *coordinator) handoffsDeferred() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deferHO
}

func (c *coordinator) takingStopped() bool {
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
func (c *coordinator) drop(h *heldLease, cause error) {
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

// RenewAll renews every held lease once (those with a renewal in flight already are left to it) and
// returns when these renewals are done. Each renewal retries until it succeeds or the lease's validity
// ends; leases found taken, or not renewed for the failover time, are dropped.
func (c *coordinator) RenewAll(ctx context.Context) {
	var wg sync.WaitGroup
	c.startRenewals(ctx, &wg)
	wg.Wait()
}

// startRenewals drops the leases not renewed within the failover time and starts, on wg, a renewal of
// every other held lease that has none in flight.
func (c *coordinator) startRenewals(ctx context.Context, wg *sync.WaitGroup) {
	now := time.Now()
	var todo []*heldLease
	stale := map[string]*heldLease{}
	c.mu.Lock()
	for key, h := range c.held {
		switch {
		case now.After(c.validUntilLocked(h)):
			stale[key] = h
		case !h.renewing:
			h.renewing = true
			todo = append(todo, h)
		}
	}
	c.mu.Unlock()
	for key, h := range stale {
		c.drop(h, fmt.Errorf("lease: %q not renewed within the failover time %v: %w", key, c.cfg.failover, ErrLeaseLost))
	}
	for _, h := range todo {
		wg.Go(func() {
			defer func() {
				c.mu.Lock()
				h.renewing = false
				c.mu.Unlock()
			}()
			c.renewOne(ctx, h)
		})
	}
}

// renewOne renews h, retrying (renewRetryMin doubling to renewRetryMax apart) until a renewal succeeds,
// the lease is found taken, another write renewed it meanwhile, or its validity (failover after the
// start of the last write known applied) ends: then it is dropped. Each attempt waits for a write in
// progress (a checkpoint: it renews the lease too) and runs until the validity ends, its UpdateItem sent
// again if unanswered after RenewTimeout/4 (see hedged). A renewal whose outcome is unknown (no
// answer) is not a loss: the next attempt reads the lease back first.
func (c *coordinator) renewOne(ctx context.Context, h *heldLease) {
	var seen time.Time // h.lastRenewed when the last attempt began
	delay := renewRetryMin
	var lastErr error
	for {
		c.mu.Lock()
		key, last, end, ok := h.lease.Key, h.lastRenewed, c.validUntilLocked(h), c.held[h.lease.Key] == h
		c.mu.Unlock()
		switch {
		case !ok:
			return
		case lastErr != nil && last.After(seen):
			return // a checkpoint renewed it meanwhile, or a re-read proved an unanswered write applied
		case !time.Now().Before(end):
			c.drop(h, fmt.Errorf("lease: %q not renewed within the failover time %v: %w (last error: %v)", key, c.cfg.failover, ErrLeaseLost, lastErr))
			return
		}
		seen = last
		wctx, cancel := context.WithDeadline(ctx, end) // for the waits: a checkpoint may renew it meanwhile
		err := acquire(wctx, c.renewSlots)
		if err == nil {
			if err = acquire(wctx, h.sem); err == nil {
				err = c.renewHeld(ctx, h)
				<-h.sem
			}
			<-c.renewSlots
		}
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrLeaseLost):
			c.drop(h, err)
			return
		case ctx.Err() != nil:
			return // shutting down: not the lease's fault
		}
		lastErr = err
		c.m.log.Warn("lease renewal failed; retrying within the lease's validity", "lease_key", key, "err", err,
			"valid_for", time.Until(end).Round(time.Millisecond))
		t := time.NewTimer(min(delay, max(time.Until(end), 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, renewRetryMax)
	}
}

// renewHeld makes one renewal attempt on h, running until the lease's validity ends; h.sem is held. On
// success it records the new copy and hands the lease over if that is due.
func (c *coordinator) renewHeld(ctx context.Context, h *heldLease) error {
	c.mu.Lock()
	ok, end := c.held[h.lease.Key] == h, c.validUntilLocked(h)
	c.mu.Unlock()
	if !ok {
		return nil // dropped or handed over meanwhile
	}
	wctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	start := time.Now()
	l, err := c.current(wctx, h)
	var nl Lease
	if err == nil {
		var at time.Time
		nl, at, err = c.hedged(wctx, l, c.m.renew)
		ev := RenewEvent{Key: l.Key, Counter: l.Counter, Latency: time.Since(start), Err: err}
		if err == nil {
			ev.Counter = nl.Counter
			start = at
		}
		c.m.hooks.onRenew(ev)
	}
	if err = c.settle(ctx, wctx, h, start, err); err != nil {
		return err
	}
	c.mu.Lock()
	h.lease, h.lastRenewed, h.uncertain = nl, later(start, h.lastRenewed), false
	first := c.noteRequestLocked(h, start)
	handOver := nl.PendingOwner != "" && (!c.deferHO || start.Sub(h.askedAt) > c.cfg.failover)
	c.mu.Unlock()
	if handOver {
		c.handOverLocked(ctx, h, nl)
	} else if first {
		c.handoffRequested(nl)
	}
	return nil
}

// hedged runs write (a conditional write on l's counter that recognises its own effect on a failed
// condition, or a read) as single-attempt copies and returns its first success or definite failure,
// with the time the copy that applied it was sent (the lease counts as renewed then). Copies:
//
//   - one at once, another whenever none has answered for hedgeDelay (at most maxCopiesInFlight at a
//     time): a table answering in milliseconds never sees a second copy, a slow one or a hung call
//     does;
//   - another when one fails without settling the write (throttled, no answer, a 5xx), a backoff
//     (hedgeRetryMin doubling to hedgeRetryMax) after the failed one was sent, as the SDK's retryer
//     would space them: at once when its answer took longer than that.
//
// All copies are conditional on the same counter, so at most one applies; another one fails its
// condition, reads the lease back and finds that effect (a success, credited to the earliest copy that
// may have applied), or is cancelled once an answer settles the write. It runs until ctx ends and
// returns when every copy has ended.
func (c *coordinator) hedged(ctx context.Context, l Lease, write func(context.Context, Lease) (Lease, error)) (Lease, time.Time, error) {
	type result struct {
		l    Lease
		err  error
		sent time.Time
		a    *attempt
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan result, maxCopiesInFlight)
	maybe := map[time.Time]bool{} // send times of copies that may have applied
	inflight := 0
	send := func() {
		actx, a := withAttempt(hctx)
		sent := time.Now()
		maybe[sent] = true
		inflight++
		wg.Go(func() {
			nl, err := write(actx, l)
			res <- result{nl, err, sent, a}
		})
	}
	send()
	hedge := time.NewTimer(c.hedgeDelay())
	defer hedge.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := hedgeRetryMin
	var last error
	for {
		select {
		case r := <-res:
			inflight--
			switch {
			case r.err == nil:
				credit := r.sent
				if r.a.recognised.Load() { // applied by some copy: the earliest that may have
					for t := range maybe {
						if t.Before(credit) {
							credit = t
						}
					}
				}
				return r.l, credit, nil
			case definite(r.err):
				return Lease{}, time.Time{}, r.err
			case isThrottle(r.err): // answered: not applied
				delete(maybe, r.sent)
			}
			last = r.err
			// The backoff spaces a copy from the one that failed: an answer that took longer than
			// that (a slow table) is followed by the next copy at once.
			if wait := backoff - time.Since(r.sent); wait > 0 {
				retry.Reset(wait)
			} else if inflight < maxCopiesInFlight {
				send()
			}
			backoff = min(2*backoff, hedgeRetryMax)
		case <-hedge.C:
			if inflight < maxCopiesInFlight {
				send()
			}
			hedge.Reset(c.hedgeDelay())
		case <-retry.C:
			if inflight < maxCopiesInFlight {
				send()
			} else {
				retry.Reset(backoff)
			}
		case <-ctx.Done():
			if last == nil {
				return Lease{}, time.Time{}, ctx.Err()
			}
			return Lease{}, time.Time{}, fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		}
	}
}

// Copies of a write to a held lease (see hedged).
const (
	maxCopiesInFlight = 3
	hedgeRetryMin     = 50 * time.Millisecond
	hedgeRetryMax     = time.Second
)

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// isThrottle reports whether err is DynamoDB's answer that it throttled the request (not applied).
func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// hedgeDelay is how long a write to a held lease waits for an answer before another copy is sent: a
// quarter of the RenewTimeout (625 ms by default), which DynamoDB's answers (milliseconds) never come
// near.
func (c *coordinator) hedgeDelay() time.Duration { return c.cfg.renewTimeout / 4 }

// definite reports whether err settles a write for good (no other copy of it can do better).
func definite(err error) bool {
	return errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrTableRefused)
}

// handOverLocked transfers h (current copy l) to its requester; h.sem is held.
func (c *coordinator) handOverLocked(ctx context.Context, h *heldLease, l Lease) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.renewTimeout)
	defer cancel()
	start := time.Now()
	if _, err := c.m.Handoff(rctx, l); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			c.drop(h, err)
		} else {
			_ = c.settle(ctx, rctx, h, start, err) // marks h uncertain if need be; the next renewal acts on it
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
func (c *coordinator) noteRequestLocked(h *heldLease, at time.Time) bool {
	if h.lease.PendingOwner == "" || !h.askedAt.IsZero() {
		return false
	}
	h.askedAt = at
	return true
}

func (c *coordinator) handoffRequested(l Lease) {
	c.m.log.Info("lease handoff requested", "lease_key", l.Key, "requester", l.PendingOwner)
	c.signal()
}

// current returns h's copy to write from: after an unanswered write (h.uncertain) the lease is read again
// first, and found taken it is reported as ErrLeaseLost. Found still this worker's with a counter that
// moved on, it proves the unanswered write (or a later one of ours) applied, so the lease counts as
// renewed at h.uncertainSince. h.sem is held.
func (c *coordinator) current(ctx context.Context, h *heldLease) (Lease, error) {
	c.mu.Lock()
	l, uncertain := h.lease, h.uncertain
	c.mu.Unlock()
	if !uncertain {
		return l, nil
	}
	cur, _, err := c.hedged(ctx, l, func(ctx context.Context, l Lease) (Lease, error) { return c.m.Get(ctx, l.Key) })
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
		if cur.Counter != l.Counter && h.uncertainSince.After(h.lastRenewed) {
			h.lastRenewed = h.uncertainSince
		}
		h.lease, h.uncertain = cur, false
	}
	c.mu.Unlock()
	c.m.log.Info("lease re-read after an unanswered write", "lease_key", l.Key, "counter", cur.Counter)
	return cur, nil
}

// settle classifies the outcome of a write to h started at start under wctx (a child of ctx): an error
// that leaves the write's fate unknown marks h uncertain, and a write cut short by wctx becomes
// ErrTimeout.
func (c *coordinator) settle(ctx, wctx context.Context, h *heldLease, start time.Time, err error) error {
	if err == nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrTableRefused) {
		return err
	}
	c.mu.Lock()
	if !h.uncertain {
		h.uncertain, h.uncertainSince = true, start
	}
	c.mu.Unlock()
	if ctx.Err() == nil && wctx.Err() != nil && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: no answer before the lease's validity ended: %w", ErrTimeout, err)
	}
	return err
}

// withHeld runs write on the current copy of held lease key while no other write to it runs, and stores the
// result. The write runs until the lease's validity ends (failover after the start of the last write
// known applied; by then this worker must have stopped using it anyway) or ctx ends. ErrLeaseLost drops
// the lease.
func (c *coordinator) withHeld(ctx context.Context, key string, write func(context.Context, Lease) (Lease, time.Time, error)) (Lease, error) {
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
	ok, end := c.held[key] == h, c.validUntilLocked(h)
	c.mu.Unlock()
	if !ok {
		return Lease{}, fmt.Errorf("lease: %q is not held by %s: %w", key, c.m.owner, ErrLeaseLost)
	}
	wctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	start := time.Now()
	l, err := c.current(wctx, h)
	var nl Lease
	if err == nil {
		var at time.Time
		if nl, at, err = write(wctx, l); err == nil && at.After(start) {
			start = at // when the copy that applied was sent
		}
	}
	err = c.settle(ctx, wctx, h, start, err)
	switch {
	case err == nil:
		c.mu.Lock()
		first := false
		if c.held[key] == h { // not a handoff or release, which removed it
			h.lease, h.lastRenewed, h.uncertain = nl, later(start, h.lastRenewed), false
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
// means processing of the shard must stop. Like every write to a held lease it runs until the lease's
// validity ends or ctx ends, its UpdateItem sent again if unanswered after RenewTimeout/4 (see hedged).
func (c *coordinator) Checkpoint(ctx context.Context, key, seq string, subSeq int64) (Lease, error) {
	return c.checkpoint(ctx, key, seq, subSeq, nil, nil, false)
}

// PrepareCheckpoint is Manager.PrepareCheckpoint on the held lease key.
func (c *coordinator) PrepareCheckpoint(ctx context.Context, key, seq string, subSeq int64, state []byte) (Lease, error) {
	return c.checkpoint(ctx, key, seq, subSeq, nil, state, true)
}

// CheckpointShardEnd is Manager.CheckpointShardEnd on the held lease key.
func (c *coordinator) CheckpointShardEnd(ctx context.Context, key string, children []string) (Lease, error) {
	return c.checkpoint(ctx, key, ShardEnd, 0, children, nil, false)
}

// checkpoint is Manager's checkpoint on held lease key, hedged (see hedged), reported to HookLeaseCheckpoint
// once.
func (c *coordinator) checkpoint(ctx context.Context, key, seq string, subSeq int64, children []string, state []byte, prepare bool) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, time.Time, error) {
		start := time.Now()
		nl, at, err := c.hedged(ctx, l, func(ctx context.Context, l Lease) (Lease, error) {
			return c.m.writeCheckpoint(ctx, l, seq, subSeq, children, state, prepare)
		})
		c.m.hooks.onCheckpoint(CheckpointEvent{
			Key: l.Key, SequenceNumber: seq, SubSequenceNumber: subSeq, Prepared: prepare,
			Latency: time.Since(start), Err: err,
		})
		return nl, at, err
	})
}

// UpdateChildShards is Manager.UpdateChildShards on the held lease key.
func (c *coordinator) UpdateChildShards(ctx context.Context, key string, children []string) (Lease, error) {
	return c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, time.Time, error) {
		return c.hedged(ctx, l, func(ctx context.Context, l Lease) (Lease, error) { return c.m.UpdateChildShards(ctx, l, children) })
	})
}

// Release gives up the held lease key (Manager.Release) so other workers take it in their next take round,
// or, when another worker requested it (Lease.PendingOwner), hands it over to that worker
// (Manager.Handoff); this worker does not take it back for a failover time. It returns ErrLeaseLost if the
// lease was not held.
func (c *coordinator) Release(ctx context.Context, key string) error {
	var released *heldLease
	_, err := c.withHeld(ctx, key, func(ctx context.Context, l Lease) (Lease, time.Time, error) {
		handed := l.PendingOwner != ""
		if handed {
			if _, err := c.m.Handoff(ctx, l); err != nil {
				return Lease{}, time.Time{}, err
			}
		} else if err := c.m.Release(ctx, l); err != nil {
			return Lease{}, time.Time{}, err
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
		return l, time.Time{}, nil
	})
	if err == nil && released != nil {
		c.signal()
	}
	return err
}

// ReleaseAll stops taking (StopTaking), waits for a take round in progress, withdraws this worker's
// pending handoff requests (releasing any lease handed over meanwhile), then releases every held lease. Leases that turn out to be lost already are skipped; other failures are joined into the error.
func (c *coordinator) ReleaseAll(ctx context.Context) error {
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

// TakeRound scans the table once, feeds the tracker and takes what planTakes chooses: available leases
// up to the target, then steals (see taker.go). It returns the leases taken. A lease another worker took
// first is skipped silently; the error reports a failed scan. Rounds are serialised.
func (c *coordinator) TakeRound(ctx context.Context) ([]Lease, error) {
	if err := acquire(ctx, c.takeSem); err != nil {
		return nil, err
	}
	defer func() { <-c.takeSem }()
	if c.takingStopped() {
		return nil, nil
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.failover)
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
		if start.Sub(at) > c.cfg.failover {
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
		if start.Sub(at) > c.cfg.failover {
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
	plan := planTakes(states, c.m.owner, c.cfg.maxSteal, c.cfg.maxLeases, skip)
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

func init() {
	leasecoord.Register(func(manager any, o leasecoord.Config) (any, error) {
		m, ok := manager.(*Manager)
		if !ok || m == nil {
			return nil, fmt.Errorf("%w: %T is not a *lease.Manager", ErrInvalidConfig, manager)
		}
		return newCoordinatorWith(m, o)
	})
}

// newCoordinatorWith returns a coordinator with m's settings, the fields set in o overriding them (the
// kcl worker's fleet timing options).
func newCoordinatorWith(m *Manager, o leasecoord.Config) (*coordinator, error) {
	cfg := m.cfg
	if o.RenewInterval != 0 {
		cfg.renewInterval = o.RenewInterval
	}
	if o.TakeInterval != 0 {
		cfg.takeInterval = o.TakeInterval
	}
	if o.RenewTimeout != 0 {
		cfg.renewTimeout = o.RenewTimeout
	}
	if o.MaxStealSet || o.MaxLeasesToStealAtOnce != 0 {
		cfg.maxSteal = o.MaxLeasesToStealAtOnce
	}
	if o.MaxLeasesForWorker != 0 {
		cfg.maxLeases = o.MaxLeasesForWorker
	}
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	c := newCoordinator(m)
	c.cfg = cfg
	return c, nil
}
