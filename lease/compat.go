package lease

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Java KCL tables a Shardwise worker must recognise before it writes anything (see CheckTable).
const (
	// migrationKey is the key of the Java KCL 3.x client-version migration item: in the lease table
	// (leaseKey, KCL >= 3.5, entityType CLIENT_VERSION_MIGRATION) or in <app>-CoordinatorState (key).
	migrationKey = "Migration3.0"
	// attrClientVersion holds the fleet's mode (ClientVersion): CLIENT_VERSION_INIT,
	// CLIENT_VERSION_UPGRADE_FROM_2X and CLIENT_VERSION_2X run the 2.x lease algorithms (compatible with
	// Shardwise); CLIENT_VERSION_3X_WITH_ROLLBACK and CLIENT_VERSION_3X assign leases from the leader.
	attrClientVersion   = "cv"
	coordinatorStateKey = "key" // hash key of the legacy <app>-CoordinatorState table
	coordinatorSuffix   = "-CoordinatorState"
	// attrStreamName and attrShardID are written on every lease of a multi-stream table
	// (DynamoDBMultiStreamLeaseSerializer); entityType STREAM items hold its stream list (KCL >= 3.5).
	attrStreamName = "streamName"
	attrShardID    = "shardId"
	entityStream   = "STREAM"
	entityMigrate  = "CLIENT_VERSION_MIGRATION"
)

func is3x(cv string) bool {
	return cv == "CLIENT_VERSION_3X" || cv == "CLIENT_VERSION_3X_WITH_ROLLBACK"
}

// admit runs CheckTable once before the first write; writes to a refused table fail with its RefusedError.
func (m *Manager) admit(ctx context.Context) error {
	if m.admitted.Load() {
		return nil
	}
	return m.CheckTable(ctx)
}

// CheckTable decides whether this worker may use the table, reading only (a Scan of the lease table and a
// GetItem on <table>-CoordinatorState; nothing is ever written to a refused table). Every write of the
// Manager runs it first, once; EnsureTable runs it on an existing table and Coordinator.Run at start.
// It returns a *RefusedError (errors.Is ErrTableRefused) for:
//
//   - a Java KCL multi-stream table (a lease with a streamName attribute or a key of the form
//     account:stream:epoch:shardId, or an entityType STREAM item): ErrMultiStreamTable;
//   - a table whose migration state (the Migration3.0 item, in the table or in <table>-CoordinatorState)
//     says the Java fleet runs the KCL 3.x lease assignment (CLIENT_VERSION_3X or
//     CLIENT_VERSION_3X_WITH_ROLLBACK) while Java workers are alive: ErrJava3xFleetActive. Java owners
//     are alive when one of their leases' counters moves within the failover time; CheckTable then waits
//     up to one failover time (within ctx) to find out.
//
// Any other table is adopted: its leases are read as usual and its other items (worker metrics, leader
// lock, migration state) are left alone. A refusal is final for the Manager; other errors (a failed
// read) are returned and the check runs again at the next write.
func (m *Manager) CheckTable(ctx context.Context) error {
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	if m.admitted.Load() {
		return nil
	}
	if err := m.inspect(ctx); err != nil {
		return err
	}
	m.admitted.Store(true)
	return nil
}

// inspect is CheckTable's reading. m.checkMu is held.
func (m *Manager) inspect(ctx context.Context) error {
	items, err := m.scanAll(ctx)
	if isNotFound(err) {
		return nil // no table yet: nothing to refuse (EnsureTable creates it)
	}
	if err != nil {
		return fmt.Errorf("lease: check table %s: %w", m.table, err)
	}
	cv, leases := "", map[string]Lease{}
	for _, it := range items {
		key, _ := getS(it, attrKey)
		et, _ := getS(it, attrEntityType)
		switch {
		case et == entityStream:
			return m.refuseMultiStream(fmt.Sprintf("item %q has entityType %s (the stream list of a multi-stream application)", key, et))
		case et == entityMigrate:
			cv, _ = getS(it, attrClientVersion)
		case !isLeaseItem(it):
		case it[attrStreamName] != nil || isMultiStreamKey(key):
			return m.refuseMultiStream(fmt.Sprintf("lease %q is a multi-stream lease (account:stream:epoch:shardId)", key))
		default:
			if l, err := decodeItem(it); err == nil {
				leases[l.Key] = l
			}
		}
	}
	if cv == "" {
		if cv, err = m.legacyClientVersion(ctx); err != nil {
			return err
		}
	}
	if !is3x(cv) {
		if cv != "" {
			m.log.Info("Java KCL table in 2.x-compatible mode adopted", "client_version", cv)
		}
		return nil
	}
	java := map[string]Lease{}
	for k, l := range leases {
		if l.Owner != "" && !l.OwnedByShardwise() {
			java[k] = l
		}
	}
	if len(java) == 0 {
		m.log.Info("Java KCL 3.x table without Java lease owners adopted", "client_version", cv)
		return nil
	}
	// Are the Java owners alive? Watch their counters for one failover time.
	m.log.Info("Java KCL 3.x table: watching the Java lease owners for a failover time", "client_version", cv,
		"java_leases", len(java), "failover", m.cfg.failover)
	t := time.NewTimer(m.cfg.failover)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("lease: check table %s: watching Java lease owners: %w", m.table, ctx.Err())
	case <-t.C:
	}
	now, err := m.List(ctx)
	if err != nil {
		return fmt.Errorf("lease: check table %s: %w", m.table, err)
	}
	var alive []string
	for _, l := range now {
		old, ok := java[l.Key]
		if ok && l.Owner != "" && !l.OwnedByShardwise() && (l.Counter != old.Counter || l.Owner != old.Owner) {
			if !slices.Contains(alive, l.Owner) {
				alive = append(alive, l.Owner)
			}
		}
	}
	if len(alive) == 0 {
		m.log.Info("Java KCL 3.x table whose Java workers stopped adopted", "client_version", cv)
		return nil
	}
	slices.Sort(alive)
	return &RefusedError{
		Table:  m.table,
		Reason: ErrJava3xFleetActive,
		Detail: fmt.Sprintf("migration state %s says %s and Java workers %s renewed leases within %v", migrationKey, cv, strings.Join(alive, ", "), m.cfg.failover),
		Advice: "a KCL 3.x fleet assigns leases only to the workers in its metrics, so Shardwise would get none and could not hand leases over; " +
			"stop the Java fleet and start Shardwise once its leases expired, or roll the fleet back to 2.x-compatible mode with the Java KCL's migration tool (client version CLIENT_VERSION_2X) first",
	}
}

func (m *Manager) refuseMultiStream(detail string) error {
	return &RefusedError{
		Table: m.table, Reason: ErrMultiStreamTable, Detail: detail,
		Advice: "Shardwise reads single-stream lease tables only: run it under another application name (its own table) for each stream",
	}
}

// isMultiStreamKey reports whether key has the multi-stream form account:stream:epoch:shardId (a 12-digit
// account ID, a creation epoch in digits).
func isMultiStreamKey(key string) bool {
	p := strings.SplitN(key, ":", 4)
	return len(p) == 4 && len(p[0]) == 12 && allDigits(p[0]) && p[1] != "" && allDigits(p[2]) && p[3] != ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// legacyClientVersion reads the migration state from <table>-CoordinatorState (Java KCL 3.0 to 3.4, and
// 3.5 before its table migration); "" when there is none.
func (m *Manager) legacyClientVersion(ctx context.Context) (string, error) {
	name := m.table + coordinatorSuffix
	out, err := m.getItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(name),
		Key:            map[string]types.AttributeValue{coordinatorStateKey: attrS(migrationKey)},
		ConsistentRead: aws.Bool(true),
	})
	if isNotFound(err) {
		return "", nil
	}
	if isAccessDenied(err) { // a policy that grants the lease table only: the Java KCL 3.5 item is in the lease table anyway
		m.log.Warn("cannot read the Java KCL coordinator state table; assuming no Java KCL 3.x fleet", "coordinator_table", name, "err", err)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease: check table %s: read %s: %w", m.table, name, err)
	}
	cv, _ := getS(out.Item, attrClientVersion)
	return cv, nil
}
