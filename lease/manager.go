package lease

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is the part of the DynamoDB client the lease package calls, with the SDK's exact signatures,
// so *dynamodb.Client satisfies it. It may gain methods in minor versions: pass the real client, or the
// in-memory table of package leasetest in tests, rather than implementing it by hand.
type DynamoDBAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// A Manager reads and writes one lease table on behalf of one worker (the owner). Every write is a
// conditional DynamoDB write on the lease counter, and on the owner where ownership matters; a failed
// condition becomes ErrLeaseLost, ErrConflict or ErrExists. A Manager holds no lease state: leases are
// values passed in and returned (see [Lease]); the Coordinator keeps the held set.
//
// A Manager is safe for concurrent use.
type Manager struct {
	db       DynamoDBAPI
	table    string
	owner    string
	cfg      config
	hooks    hooks
	log      *slog.Logger
	callOpts []func(*dynamodb.Options) // per-call client options (the retryer)

	checkMu  sync.Mutex  // serialises table checks
	admitted atomic.Bool // the table was checked and may be written to
}

// NewManager returns a Manager for table (the application name) acting as worker owner, which must be
// unique in the fleet (host name plus a random suffix, for example). Options and their defaults are in
// options.go. It makes no calls; use EnsureTable to create the table.
func NewManager(db DynamoDBAPI, table, owner string, opts ...Option) (*Manager, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil DynamoDB client", ErrInvalidConfig)
	}
	if table == "" || owner == "" {
		return nil, fmt.Errorf("%w: table %q and owner %q must not be empty", ErrInvalidConfig, table, owner)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidConfig)
		}
		o.apply(&cfg)
	}
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	h, err := newHooks(table, cfg.hooks)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		db: db, table: table, owner: owner, cfg: cfg, hooks: h,
		log: cfg.logger.With("table", table, "owner", owner),
	}
	if r := cfg.retryer; r != nil {
		m.callOpts = []func(*dynamodb.Options){func(o *dynamodb.Options) { o.Retryer = r }}
	}
	return m, nil
}

// call runs one DynamoDB call under CallTimeout (within ctx) with the Manager's per-call client options.
// A call cut short by CallTimeout, not by ctx, fails with an error wrapping ErrTimeout.
func call[O any](ctx context.Context, m *Manager, fn func(context.Context, ...func(*dynamodb.Options)) (O, error)) (O, error) {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.callTimeout)
	defer cancel()
	opts := m.callOpts
	if attemptOf(ctx) != nil {
		opts = append(slices.Clip(opts), singleAttempt)
	}
	out, err := fn(cctx, opts...)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		err = fmt.Errorf("%w after %v: %w", ErrTimeout, m.cfg.callTimeout, err)
	}
	return out, err
}

func (m *Manager) scan(ctx context.Context, in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error) {
	return call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
		return m.db.Scan(ctx, in, o...)
	})
}

func (m *Manager) getItem(ctx context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	return call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
		return m.db.GetItem(ctx, in, o...)
	})
}

func (m *Manager) putItem(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	return call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
		return m.db.PutItem(ctx, in, o...)
	})
}

func (m *Manager) updateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	return call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
		return m.db.UpdateItem(ctx, in, o...)
	})
}

func (m *Manager) deleteItem(ctx context.Context, in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
	return call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
		return m.db.DeleteItem(ctx, in, o...)
	})
}

// Owner returns this worker's owner identifier.
func (m *Manager) Owner() string { return m.owner }

// Table returns the lease table name.
func (m *Manager) Table() string { return m.table }

// Failover returns the configured failover time (the lease duration).
func (m *Manager) Failover() time.Duration { return m.cfg.failover }

// List returns every lease of the table, sorted by key, read with a strongly consistent, paginated Scan.
// Items that are not leases (an entityType attribute other than LEASE: the worker metrics, leader lock
// and migration state a Java KCL 3.x application keeps in its lease table) are left out. ctx bounds the
// whole scan; each page is bounded by CallTimeout.
func (m *Manager) List(ctx context.Context) ([]Lease, error) {
	items, err := m.scanAll(ctx)
	if err != nil {
		return nil, err
	}
	var out []Lease
	for _, it := range items {
		if !isLeaseItem(it) {
			continue
		}
		l, err := decodeItem(it)
		if err != nil {
			return nil, fmt.Errorf("lease: list %s: %w", m.table, err)
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// scanAll returns every item of the table, leases or not.
func (m *Manager) scanAll(ctx context.Context) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: aws.String(m.table), ConsistentRead: aws.Bool(true)}
	for {
		page, err := m.scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("lease: list %s: %w", m.table, err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Get returns the lease with key, read consistently, or an error wrapping ErrNotFound (also when the item
// is not a lease).
func (m *Manager) Get(ctx context.Context, key string) (Lease, error) {
	out, err := m.getItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(m.table), Key: keyOf(key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: get %q: %w", key, err)
	}
	if len(out.Item) == 0 || !isLeaseItem(out.Item) {
		return Lease{}, fmt.Errorf("lease: get %q: %w", key, ErrNotFound)
	}
	return decodeItem(out.Item)
}

// Create writes a new lease exactly as given (usually unowned, counter 0, with the initial position as
// checkpoint and the parents of the shard), only if no lease with that key exists; otherwise it returns
// an error wrapping ErrExists. Workers racing to create the same lease therefore create it exactly once.
func (m *Manager) Create(ctx context.Context, l Lease) error {
	if l.Key == "" {
		return fmt.Errorf("%w: lease without key", ErrInvalidConfig)
	}
	if err := m.admit(ctx); err != nil {
		return err
	}
	w := newWrite().condNotExists(attrKey)
	_, err := m.putItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(m.table),
		Item:                     encodeItem(l),
		ConditionExpression:      w.condition(),
		ExpressionAttributeNames: w.names,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lease: create %q: %w", l.Key, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("lease: create %q: %w", l.Key, err)
	}
	m.log.Debug("lease created", "lease_key", l.Key)
	return nil
}

// update runs one conditional UpdateItem and returns the stored result (ReturnValues ALL_NEW). A failed
// condition is returned as condFailed=true with a nil error, unless applied recognises the stored lease
// (read again) as the result of this very write: the SDK retried a write whose first attempt was applied
// but whose answer was lost, and the retry failed the condition. The stored copy is then returned as a
// success. applied may be nil (no re-read).
func (m *Manager) update(ctx context.Context, key string, w *write, applied func(cur Lease) bool) (l Lease, condFailed bool, err error) {
	if err := m.admit(ctx); err != nil {
		return Lease{}, false, err
	}
	l, condFailed, err = m.updateOnce(ctx, key, w)
	if !condFailed || applied == nil {
		return l, condFailed, err
	}
	cur, gerr := m.Get(ctx, key)
	switch {
	case gerr == nil && applied(cur):
		m.log.Info("spurious condition failure: the retried write had been applied", "lease_key", key)
		if a := attemptOf(ctx); a != nil {
			a.recognised.Store(true)
		}
		return cur, false, nil
	case gerr != nil && !errors.Is(gerr, ErrNotFound):
		// Not known to be lost: the write may be this very one, applied (a throttled re-read is no proof).
		return Lease{}, false, fmt.Errorf("condition failed, reading the lease back failed: %w", gerr)
	}
	return Lease{}, true, nil
}

// An attempt marks a context whose Manager calls are single attempts (no SDK retry: the Coordinator
// sends copies itself, see Coordinator.hedged) and records whether a write was recognised as applied by
// reading the lease back (so by an earlier copy, not necessarily this one).
type attempt struct{ recognised atomic.Bool }

type attemptKey struct{}

func withAttempt(ctx context.Context) (context.Context, *attempt) {
	a := &attempt{}
	return context.WithValue(ctx, attemptKey{}, a), a
}

func attemptOf(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// singleAttempt makes a call one attempt (aws.NopRetryer).
func singleAttempt(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

func (m *Manager) updateOnce(ctx context.Context, key string, w *write) (l Lease, condFailed bool, err error) {
	out, err := m.updateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(m.table),
		Key:                       keyOf(key),
		ConditionExpression:       w.condition(),
		UpdateExpression:          w.update(),
		ExpressionAttributeNames:  w.names,
		ExpressionAttributeValues: w.valuesOrNil(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return Lease{}, true, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	l, err = decodeItem(out.Attributes)
	return l, false, err
}

// Renew increments the counter of a lease this worker holds, proving it is alive. It fails with
// ErrLeaseLost when l is not owned by this worker or the stored lease no longer has l's counter and owner
// (someone took it, or it was deleted). A renewal whose first attempt was applied but whose answer was lost
// (so the SDK's retry fails the condition) is recognised and reported as success, as the Java KCL does: when
// the condition fails but the stored lease is this worker's at l.Counter+1, that copy is returned. Always
// pass the latest copy; the Coordinator does.
func (m *Manager) Renew(ctx context.Context, l Lease) (Lease, error) {
	start := time.Now()
	nl, err := m.renew(ctx, l)
	ev := RenewEvent{Key: l.Key, Counter: l.Counter, Latency: time.Since(start), Err: err}
	if err == nil {
		ev.Counter = nl.Counter
	}
	m.hooks.onRenew(ev)
	return nl, err
}

func (m *Manager) renew(ctx context.Context, l Lease) (Lease, error) {
	if l.Owner != m.owner {
		return Lease{}, fmt.Errorf("lease: renew %q: owned by %q, not %q: %w", l.Key, l.Owner, m.owner, ErrLeaseLost)
	}
	w := newWrite().condCounter(l.Counter).condOwner(m.owner).bumpCounter(l.Counter).
		setValue(attrShardwiseOwner, "peer", attrS(m.owner))
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		return cur.Owner == m.owner && cur.Counter == l.Counter+1
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: renew %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: renew %q at counter %d: %w", l.Key, l.Counter, ErrLeaseLost)
	}
	return nl, nil
}

// Take makes this worker the owner of l, provided the stored lease still has l's counter and owner, and
// increments ownerSwitchesSinceCheckpoint when the owner changes. It fails with ErrConflict otherwise
// (another worker took or renewed it first); of several workers taking the same lease exactly one wins.
// Taking a live lease from another worker is a steal: its owner learns at its next renewal.
func (m *Manager) Take(ctx context.Context, l Lease) (Lease, error) {
	w := newWrite().condCounter(l.Counter).condOwner(l.Owner).
		bumpCounter(l.Counter).
		setValue(attrOwner, "newOwner", attrS(m.owner)).
		setValue(attrShardwiseOwner, "peer", attrS(m.owner)).
		removeAttr(attrCheckpointOwner, attrPendingOwner)
	if l.Owner != "" && l.Owner != m.owner {
		w.addNumber(attrOwnerSwitches, "one", 1)
	}
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		return cur.Owner == m.owner && cur.Counter == l.Counter+1
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: take %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: take %q at counter %d: %w", l.Key, l.Counter, ErrConflict)
	}
	m.log.Debug("lease taken", "lease_key", l.Key, "previous_owner", l.Owner)
	return nl, nil
}

// RequestHandoff asks the live owner of l to hand it over to this worker (a graceful steal): it records
// this worker as the lease's PendingOwner, provided the stored lease still has l's counter and owner and no
// other request is pending; otherwise ErrConflict. The counter is not incremented, so the owner's renewals
// and checkpoints go on; the owner notices the request at its next renewal or take round, finishes its
// batch in progress, checkpoints and calls Handoff. If it never does (it died), the lease expires after the
// failover time and is taken as usual (Take clears the request).
func (m *Manager) RequestHandoff(ctx context.Context, l Lease) (Lease, error) {
	if l.Owner == "" || l.Owner == m.owner {
		return Lease{}, fmt.Errorf("%w: request handoff %q: owner %q", ErrInvalidConfig, l.Key, l.Owner)
	}
	w := newWrite().condCounter(l.Counter).condOwner(l.Owner).condNotExists(attrPendingOwner).
		setValue(attrPendingOwner, "pendingOwner", attrS(m.owner))
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		return cur.Owner == l.Owner && cur.Counter == l.Counter && cur.PendingOwner == m.owner
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: request handoff %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: request handoff %q at counter %d: %w", l.Key, l.Counter, ErrConflict)
	}
	m.log.Debug("lease handoff requested", "lease_key", l.Key, "owner", l.Owner)
	return nl, nil
}

// CancelHandoff withdraws this worker's handoff request on lease key, if it is still pending (a worker
// shutting down must not be handed leases). It reports whether a request was withdrawn.
func (m *Manager) CancelHandoff(ctx context.Context, key string) (bool, error) {
	w := newWrite().condEquals(attrPendingOwner, "requester", attrS(m.owner)).removeAttr(attrPendingOwner)
	_, failed, err := m.update(ctx, key, w, nil)
	if err != nil {
		return false, fmt.Errorf("lease: cancel handoff %q: %w", key, err)
	}
	return !failed, nil
}

// Handoff transfers a lease this worker holds to the worker that requested it (l.PendingOwner), provided
// the stored lease still has l's counter, this owner and that request; otherwise ErrLeaseLost. Checkpoint
// first: the new owner starts at the stored checkpoint. The new owner adopts the lease at once, without
// waiting for the failover time.
func (m *Manager) Handoff(ctx context.Context, l Lease) (Lease, error) {
	if l.Owner != m.owner || l.PendingOwner == "" {
		return Lease{}, fmt.Errorf("lease: handoff %q: owned by %q, requested by %q: %w", l.Key, l.Owner, l.PendingOwner, ErrLeaseLost)
	}
	w := newWrite().condCounter(l.Counter).condOwner(m.owner).
		condEquals(attrPendingOwner, "requester", attrS(l.PendingOwner)).
		bumpCounter(l.Counter).
		setValue(attrOwner, "newOwner", attrS(l.PendingOwner)).
		setValue(attrShardwiseOwner, "peer", attrS(l.PendingOwner)). // only Shardwise workers request handoffs
		removeAttr(attrCheckpointOwner, attrPendingOwner).
		addNumber(attrOwnerSwitches, "one", 1)
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		return cur.Owner == l.PendingOwner && cur.Counter == l.Counter+1 && cur.PendingOwner == ""
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: handoff %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: handoff %q at counter %d: %w", l.Key, l.Counter, ErrLeaseLost)
	}
	m.log.Info("lease handed off", "lease_key", l.Key, "new_owner", l.PendingOwner)
	return nl, nil
}

// Evict removes the owner of a lease held by any worker (the Java KCL's evictLease), provided counter and
// owner are unchanged; otherwise ErrConflict. Unowned leases are taken at once by every worker's next take
// round. Workers give up their own leases with Release.
func (m *Manager) Evict(ctx context.Context, l Lease) (Lease, error) {
	w := newWrite().condCounter(l.Counter).condOwner(l.Owner).
		bumpCounter(l.Counter).
		removeAttr(attrOwner, attrCheckpointOwner, attrPendingOwner, attrShardwiseOwner)
	// No re-read on a failed condition: a stale copy and a retried eviction leave the same table behind,
	// and a caller with a stale copy must learn it (ErrConflict).
	nl, failed, err := m.update(ctx, l.Key, w, nil)
	if err != nil {
		return Lease{}, fmt.Errorf("lease: evict %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: evict %q at counter %d: %w", l.Key, l.Counter, ErrConflict)
	}
	return nl, nil
}

// Release gives up a lease this worker holds: the owner is removed, so other workers take it in their next
// take round instead of waiting for it to expire. Checkpoint first: the next owner starts at the stored
// checkpoint. It fails with ErrLeaseLost when the lease is no longer this worker's.
func (m *Manager) Release(ctx context.Context, l Lease) error {
	if l.Owner != m.owner {
		return fmt.Errorf("lease: release %q: owned by %q, not %q: %w", l.Key, l.Owner, m.owner, ErrLeaseLost)
	}
	nl, err := m.Evict(ctx, l)
	if err != nil {
		if isConflict(err) {
			return fmt.Errorf("lease: release %q at counter %d: %w", l.Key, l.Counter, ErrLeaseLost)
		}
		return err
	}
	m.log.Info("lease released", "lease_key", l.Key)
	m.hooks.onReleased(nl)
	return nil
}

// Checkpoint records that the shard of lease l was processed up to and including (seq, subSeq); seq may be
// a sequence number or one of the sentinels (ShardEnd at the end of a shard). It resets
// ownerSwitchesSinceCheckpoint, clears any prepared checkpoint and increments the counter. It fails with
// ErrLeaseLost when this worker no longer holds l at l's counter.
func (m *Manager) Checkpoint(ctx context.Context, l Lease, seq string, subSeq int64) (Lease, error) {
	return m.checkpoint(ctx, l, seq, subSeq, nil, nil, false)
}

// CheckpointShardEnd writes the ShardEnd checkpoint and the shard's children in one conditional write, so
// a reader never sees a finished shard without its children. It fails like Checkpoint.
func (m *Manager) CheckpointShardEnd(ctx context.Context, l Lease, children []string) (Lease, error) {
	return m.checkpoint(ctx, l, ShardEnd, 0, children, nil, false)
}

// PrepareCheckpoint stores a pending checkpoint (seq, subSeq) with optional application state (nil or empty
// removes any stored state) without moving the checkpoint. A later Checkpoint clears it. It fails with
// ErrLeaseLost like Checkpoint.
func (m *Manager) PrepareCheckpoint(ctx context.Context, l Lease, seq string, subSeq int64, state []byte) (Lease, error) {
	return m.checkpoint(ctx, l, seq, subSeq, nil, state, true)
}

func (m *Manager) checkpoint(ctx context.Context, l Lease, seq string, subSeq int64, children []string, state []byte, prepare bool) (Lease, error) {
	start := time.Now()
	nl, err := m.writeCheckpoint(ctx, l, seq, subSeq, children, state, prepare)
	m.hooks.onCheckpoint(CheckpointEvent{
		Key: l.Key, SequenceNumber: seq, SubSequenceNumber: subSeq, Prepared: prepare,
		Latency: time.Since(start), Err: err,
	})
	return nl, err
}

func (m *Manager) writeCheckpoint(ctx context.Context, l Lease, seq string, subSeq int64, children []string, state []byte, prepare bool) (Lease, error) {
	op := "checkpoint"
	if prepare {
		op = "prepare checkpoint"
	}
	if seq == "" || subSeq < 0 {
		return Lease{}, fmt.Errorf("%w: %s %q: sequence number %q, sub-sequence %d", ErrInvalidConfig, op, l.Key, seq, subSeq)
	}
	if l.Owner != m.owner {
		return Lease{}, fmt.Errorf("lease: %s %q: owned by %q, not %q: %w", op, l.Key, l.Owner, m.owner, ErrLeaseLost)
	}
	w := newWrite().condCounter(l.Counter).condOwner(m.owner).bumpCounter(l.Counter)
	if prepare {
		w.setValue(attrPending, "pending", attrS(seq)).setValue(attrPendingSub, "pendingSub", attrN(subSeq))
		if len(state) > 0 {
			w.setValue(attrPendingState, "pendingState", &types.AttributeValueMemberB{Value: slices.Clone(state)})
		} else {
			w.removeAttr(attrPendingState)
		}
	} else {
		w.setValue(attrCheckpoint, "checkpoint", attrS(seq)).
			setValue(attrCheckpointSub, "checkpointSub", attrN(subSeq)).
			setValue(attrOwnerSwitches, "zero", attrN(0)).
			removeAttr(attrPending, attrPendingSub, attrPendingState)
		if len(children) > 0 {
			w.setValue(attrChildren, "children", stringSet(children))
		}
	}
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		if cur.Owner != m.owner || cur.Counter != l.Counter+1 {
			return false
		}
		if prepare {
			return cur.PendingCheckpoint == seq && cur.PendingCheckpointSubSequence == subSeq &&
				bytes.Equal(cur.PendingCheckpointState, state)
		}
		return cur.Checkpoint == seq && cur.CheckpointSubSequence == subSeq && cur.PendingCheckpoint == "" &&
			(len(children) == 0 || slices.Equal(cur.ChildShardIDs, sortedSet(children)))
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: %s %q: %w", op, l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: %s %q at counter %d: %w", op, l.Key, l.Counter, ErrLeaseLost)
	}
	m.log.Debug("lease "+op, "lease_key", l.Key, "seq", seq, "sub_seq", subSeq)
	return nl, nil
}

// UpdateChildShards records the children of the lease's shard (shard-end bookkeeping, before or without
// the ShardEnd checkpoint; see also CheckpointShardEnd). It fails with ErrLeaseLost when this worker no
// longer holds l at l's counter.
func (m *Manager) UpdateChildShards(ctx context.Context, l Lease, children []string) (Lease, error) {
	if len(children) == 0 {
		return Lease{}, fmt.Errorf("%w: update child shards %q: no children", ErrInvalidConfig, l.Key)
	}
	if l.Owner != m.owner {
		return Lease{}, fmt.Errorf("lease: update child shards %q: owned by %q, not %q: %w", l.Key, l.Owner, m.owner, ErrLeaseLost)
	}
	w := newWrite().condCounter(l.Counter).condOwner(m.owner).bumpCounter(l.Counter).
		setValue(attrChildren, "children", stringSet(children))
	nl, failed, err := m.update(ctx, l.Key, w, func(cur Lease) bool {
		return cur.Owner == m.owner && cur.Counter == l.Counter+1 && slices.Equal(cur.ChildShardIDs, sortedSet(children))
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease: update child shards %q: %w", l.Key, err)
	}
	if failed {
		return Lease{}, fmt.Errorf("lease: update child shards %q at counter %d: %w", l.Key, l.Counter, ErrLeaseLost)
	}
	return nl, nil
}

// DeleteLease deletes lease l only if its counter is unchanged (for example a finished parent whose children
// have progressed, judged from a listed copy); otherwise ErrConflict. A lease that is already gone is
// reported as ErrConflict too: the caller's copy is stale either way.
func (m *Manager) DeleteLease(ctx context.Context, l Lease) error {
	if err := m.admit(ctx); err != nil {
		return err
	}
	w := newWrite().condCounter(l.Counter)
	_, err := m.deleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(m.table),
		Key:                       keyOf(l.Key),
		ConditionExpression:       w.condition(),
		ExpressionAttributeNames:  w.names,
		ExpressionAttributeValues: w.values,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lease: delete %q at counter %d: %w", l.Key, l.Counter, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("lease: delete %q: %w", l.Key, err)
	}
	m.log.Info("lease deleted", "lease_key", l.Key)
	return nil
}

// Delete deletes the lease with key whatever its state (administrative cleanup); it returns an error
// wrapping ErrNotFound when there is none. Prefer DeleteLease in workers.
func (m *Manager) Delete(ctx context.Context, key string) error {
	if err := m.admit(ctx); err != nil {
		return err
	}
	w := newWrite().condExists(attrKey)
	_, err := m.deleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(m.table),
		Key:                      keyOf(key),
		ConditionExpression:      w.condition(),
		ExpressionAttributeNames: w.names,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lease: delete %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lease: delete %q: %w", key, err)
	}
	m.log.Info("lease deleted", "lease_key", key)
	return nil
}
