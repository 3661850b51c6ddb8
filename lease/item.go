package lease

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the Java KCL 2.x/3.x single-stream lease table (DynamoDBLeaseSerializer).
const (
	attrKey             = "leaseKey"
	attrOwner           = "leaseOwner"
	attrCounter         = "leaseCounter"
	attrCheckpoint      = "checkpoint"
	attrCheckpointSub   = "checkpointSubSequenceNumber"
	attrPending         = "pendingCheckpoint"
	attrPendingSub      = "pendingCheckpointSubSequenceNumber"
	attrPendingState    = "pendingCheckpointState"
	attrOwnerSwitches   = "ownerSwitchesSinceCheckpoint"
	attrParents         = "parentShardId"
	attrChildren        = "childShardIds"
	attrStartingHashKey = "startingHashKey"
	attrEndingHashKey   = "endingHashKey"
	// attrCheckpointOwner is written by Java KCL 3.x during a graceful handoff. Shardwise never sets it,
	// but a take or release removes it, as the Java KCL does, so a leftover value cannot linger.
	attrCheckpointOwner = "checkpointOwner"
	// attrPendingOwner is Shardwise's graceful-handoff request: a worker that wants a live worker's lease
	// (a balance steal) writes its own ID here instead of taking the lease; the owner finishes its batch in
	// progress, checkpoints and transfers the lease (Manager.Handoff). Java KCL 2.x ignores the attribute.
	attrPendingOwner = "pendingLeaseOwner"
	// attrShardwiseOwner marks the leases Shardwise workers own: every take, renewal and handoff writes the
	// owner's ID here as well as in leaseOwner. A Java KCL worker that takes the lease rewrites leaseOwner
	// only, so a lease whose leaseOwner differs from shardwiseOwner is owned by a Java worker: it is never
	// asked for a handoff (Java workers do not honour pendingLeaseOwner), only taken once expired.
	attrShardwiseOwner = "shardwiseOwner"
	// attrEntityType tells the kinds of item apart in a Java KCL >= 3.5 lease table (LEASE,
	// WORKER_METRIC_STATS, LEADER, CLIENT_VERSION_MIGRATION, TABLE_MIGRATION, STREAM). Items without it are
	// leases (tables written before 3.5); Shardwise writes entityType LEASE on create, as the Java KCL does.
	attrEntityType = "entityType"
	entityLease    = "LEASE"
)

// isLeaseItem reports whether an item of the lease table is a lease: no entityType, or LEASE.
func isLeaseItem(it map[string]types.AttributeValue) bool {
	switch v := it[attrEntityType].(type) {
	case nil:
		return true
	case *types.AttributeValueMemberS:
		return v.Value == entityLease
	default:
		return false
	}
}

// sortedSet returns ss sorted and de-duplicated, as a string set is read back.
func sortedSet(ss []string) []string {
	v := slices.Clone(ss)
	slices.Sort(v)
	return slices.Compact(v)
}

func attrS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func attrN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: attrS(key)}
}

// encodeItem builds the item the way the Java KCL's serializer does: optional attributes are omitted
// rather than written empty, string sets only when non-empty.
func encodeItem(l Lease) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		attrKey:           attrS(l.Key),
		attrCounter:       attrN(l.Counter),
		attrOwnerSwitches: attrN(l.OwnerSwitchesSinceCheckpoint),
		attrEntityType:    attrS(entityLease),
	}
	if l.Owner != "" {
		it[attrOwner] = attrS(l.Owner)
	}
	if l.ShardwiseOwner != "" {
		it[attrShardwiseOwner] = attrS(l.ShardwiseOwner)
	}
	if l.PendingOwner != "" {
		it[attrPendingOwner] = attrS(l.PendingOwner)
	}
	if l.Checkpoint != "" {
		it[attrCheckpoint] = attrS(l.Checkpoint)
		it[attrCheckpointSub] = attrN(l.CheckpointSubSequence)
	}
	if l.PendingCheckpoint != "" {
		it[attrPending] = attrS(l.PendingCheckpoint)
		it[attrPendingSub] = attrN(l.PendingCheckpointSubSequence)
	}
	if len(l.PendingCheckpointState) > 0 {
		it[attrPendingState] = &types.AttributeValueMemberB{Value: slices.Clone(l.PendingCheckpointState)}
	}
	if len(l.ParentShardIDs) > 0 {
		it[attrParents] = stringSet(l.ParentShardIDs)
	}
	if len(l.ChildShardIDs) > 0 {
		it[attrChildren] = stringSet(l.ChildShardIDs)
	}
	if l.StartingHashKey != "" && l.EndingHashKey != "" {
		it[attrStartingHashKey] = attrS(l.StartingHashKey)
		it[attrEndingHashKey] = attrS(l.EndingHashKey)
	}
	return it
}

// stringSet returns a sorted, de-duplicated SS value (DynamoDB rejects duplicates in a set).
func stringSet(ss []string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: sortedSet(ss)}
}

// decodeItem reads an item written by Shardwise or by the Java KCL. Missing optional attributes read as
// zero values (as the Java serializer's safeGet* helpers do); unknown attributes (KCL 3.x
// throughputKBps, checkpointOwner, ...) are ignored. A pendingCheckpointState that is not binary is
// ignored too: the Java KCL's createLeaseIfNotExists path writes it as a number by mistake.
func decodeItem(it map[string]types.AttributeValue) (Lease, error) {
	var l Lease
	var err error
	if l.Key, err = getS(it, attrKey); err != nil {
		return Lease{}, err
	}
	if l.Key == "" {
		return Lease{}, fmt.Errorf("lease: item without %s", attrKey)
	}
	fail := func(err error) (Lease, error) {
		return Lease{}, fmt.Errorf("lease: item %q: %w", l.Key, err)
	}
	if l.Owner, err = getS(it, attrOwner); err != nil {
		return fail(err)
	}
	if l.PendingOwner, err = getS(it, attrPendingOwner); err != nil {
		return fail(err)
	}
	if l.ShardwiseOwner, err = getS(it, attrShardwiseOwner); err != nil {
		return fail(err)
	}
	if l.Counter, err = getN(it, attrCounter); err != nil {
		return fail(err)
	}
	if l.Checkpoint, err = getS(it, attrCheckpoint); err != nil {
		return fail(err)
	}
	if l.CheckpointSubSequence, err = getN(it, attrCheckpointSub); err != nil {
		return fail(err)
	}
	if l.PendingCheckpoint, err = getS(it, attrPending); err != nil {
		return fail(err)
	}
	if l.PendingCheckpoint != "" {
		if l.PendingCheckpointSubSequence, err = getN(it, attrPendingSub); err != nil {
			return fail(err)
		}
	}
	if b, ok := it[attrPendingState].(*types.AttributeValueMemberB); ok && len(b.Value) > 0 {
		l.PendingCheckpointState = slices.Clone(b.Value)
	}
	if l.OwnerSwitchesSinceCheckpoint, err = getN(it, attrOwnerSwitches); err != nil {
		return fail(err)
	}
	if l.ParentShardIDs, err = getSS(it, attrParents); err != nil {
		return fail(err)
	}
	if l.ChildShardIDs, err = getSS(it, attrChildren); err != nil {
		return fail(err)
	}
	if l.StartingHashKey, err = getS(it, attrStartingHashKey); err != nil {
		return fail(err)
	}
	if l.EndingHashKey, err = getS(it, attrEndingHashKey); err != nil {
		return fail(err)
	}
	if l.StartingHashKey == "" || l.EndingHashKey == "" { // the Java KCL reads the range only as a pair
		l.StartingHashKey, l.EndingHashKey = "", ""
	}
	return l, nil
}

func getS(it map[string]types.AttributeValue, name string) (string, error) {
	switch v := it[name].(type) {
	case nil:
		return "", nil
	case *types.AttributeValueMemberNULL:
		return "", nil
	case *types.AttributeValueMemberS:
		return v.Value, nil
	default:
		return "", fmt.Errorf("attribute %s has type %T, want S", name, v)
	}
}

func getN(it map[string]types.AttributeValue, name string) (int64, error) {
	switch v := it[name].(type) {
	case nil:
		return 0, nil
	case *types.AttributeValueMemberNULL:
		return 0, nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("attribute %s: %w", name, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("attribute %s has type %T, want N", name, v)
	}
}

func getSS(it map[string]types.AttributeValue, name string) ([]string, error) {
	switch v := it[name].(type) {
	case nil:
		return nil, nil
	case *types.AttributeValueMemberNULL:
		return nil, nil
	case *types.AttributeValueMemberSS:
		if len(v.Value) == 0 {
			return nil, nil
		}
		out := slices.Clone(v.Value)
		slices.Sort(out)
		return out, nil
	default:
		return nil, fmt.Errorf("attribute %s has type %T, want SS", name, v)
	}
}
