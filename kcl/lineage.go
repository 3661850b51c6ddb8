package kcl

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/lease"
)

// Lineage rules (shard sync). The stream's shards (ListShards: every shard within the retention period,
// open and closed) and the lease table decide which leases to create; planLeases applies the rules, the
// caller creates the leases in the order returned (parents before children) with conditional writes, so
// workers syncing at the same time create each lease exactly once and a crash half-way never leaves a
// child whose parent lease appears later.
//
//  1. A shard that has a lease, or a leased descendant, never gets a (new) lease: its data was or will be
//     covered through that lease (its lease may have been deleted after it was finished).
//  2. A shard with a parent whose lease is finished (checkpoint SHARD_END) gets a lease at TRIM_HORIZON:
//     the child of a finished shard starts at its beginning. It is processed only once every parent
//     lease is finished (merge: both), which the shard consumer checks; see blockedOnParents.
//  3. A shard with a leased but unfinished parent waits (no lease yet); the worker that finishes the
//     parent creates the children's leases at once, and later syncs do too (rule 2).
//  4. Otherwise the shard is not a descendant of anything processed, and the initial position decides:
//     TRIM_HORIZON and AT_TIMESTAMP give leases to the roots of the retained lineage (shards with no
//     parent among the listed shards), at the initial position; their descendants follow by rules 2-3.
//     LATEST gives leases only to the open shards at the tip, at LATEST (the Java KCL rule: closed shards
//     hold nothing newer than the tip).
//
// The listing is checked first: the open shards must cover the whole hash key space, or it is an
// inconsistent view (resharding in progress) and nothing is created (ErrIncompleteShardList).

// shardInfo is a shard as shard sync sees it.
type shardInfo struct {
	id       string
	parents  []string // parent and adjacent parent, when set
	rng      aggregation.HashRange
	startKey string // decimal, as listed
	endKey   string
	open     bool
}

func shardInfoFrom(s types.Shard) (shardInfo, error) {
	si := shardInfo{id: aws.ToString(s.ShardId)}
	if p := aws.ToString(s.ParentShardId); p != "" {
		si.parents = append(si.parents, p)
	}
	if p := aws.ToString(s.AdjacentParentShardId); p != "" {
		si.parents = append(si.parents, p)
	}
	slices.Sort(si.parents)
	if s.HashKeyRange != nil {
		si.startKey, si.endKey = aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey)
		r, err := aggregation.ParseHashRange(si.startKey, si.endKey)
		if err != nil {
			return shardInfo{}, fmt.Errorf("kcl: shard %s: %w", si.id, err)
		}
		si.rng = r
	}
	si.open = s.SequenceNumberRange == nil || aws.ToString(s.SequenceNumberRange.EndingSequenceNumber) == ""
	return si, nil
}

// checkCoverage returns ErrIncompleteShardList when the open shards leave holes in the hash key space.
func checkCoverage(shards []shardInfo) error {
	var open []aggregation.ShardRange
	for _, s := range shards {
		if s.open {
			open = append(open, aggregation.ShardRange{ShardID: s.id, Range: s.rng})
		}
	}
	if len(open) == 0 {
		return fmt.Errorf("%w: no open shard", ErrIncompleteShardList)
	}
	m, err := aggregation.NewShardMap(open)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIncompleteShardList, err)
	}
	if holes := m.Holes(); len(holes) > 0 {
		return fmt.Errorf("%w: %d hole(s), first %v", ErrIncompleteShardList, len(holes), holes[0])
	}
	return nil
}

// planLeases returns the leases to create, parents before children. initial is the worker's StartAt.
func planLeases(shards []shardInfo, leases []lease.Lease, initial Position) []lease.Lease {
	byID := make(map[string]*shardInfo, len(shards))
	for i := range shards {
		byID[shards[i].id] = &shards[i]
	}
	leased := make(map[string]lease.Lease, len(leases))
	for _, l := range leases {
		leased[l.Key] = l
	}
	// Rule 1: every ancestor of a leased shard is covered.
	covered := map[string]bool{}
	var cover func(id string)
	cover = func(id string) {
		s, ok := byID[id]
		if !ok {
			return
		}
		for _, p := range s.parents {
			if !covered[p] {
				covered[p] = true
				cover(p)
			}
		}
	}
	for _, l := range leases {
		cover(l.Key)
		for _, p := range l.ParentShardIDs { // parents of unlisted leased shards too
			if !covered[p] {
				covered[p] = true
				cover(p)
			}
		}
	}
	var out []lease.Lease
	for _, s := range topoOrder(shards, byID) {
		if _, ok := leased[s.id]; ok || covered[s.id] {
			continue
		}
		var checkpoint string
		parentLeased, parentFinished, parentListed := false, false, false
		for _, p := range s.parents {
			if pl, ok := leased[p]; ok {
				parentLeased = true
				parentFinished = parentFinished || pl.Finished()
			}
			if _, ok := byID[p]; ok {
				parentListed = true
			}
		}
		switch {
		case parentFinished: // rule 2
			checkpoint = lease.TrimHorizon
		case parentLeased: // rule 3
			continue
		case initial == Latest: // rule 4
			if !s.open {
				continue
			}
			checkpoint = lease.Latest
		default:
			if parentListed {
				continue // a descendant of an unleased listed shard: reached through its root
			}
			checkpoint = initial.SequenceNumber
		}
		l := lease.Lease{
			Key: s.id, Checkpoint: checkpoint, ParentShardIDs: slices.Clone(s.parents),
			StartingHashKey: s.startKey, EndingHashKey: s.endKey,
		}
		out = append(out, l)
		leased[s.id] = l
	}
	return out
}

// topoOrder returns the shards with every listed parent before its children (then by shard ID).
func topoOrder(shards []shardInfo, byID map[string]*shardInfo) []*shardInfo {
	depth := map[string]int{}
	var d func(id string, seen int) int
	d = func(id string, seen int) int {
		if v, ok := depth[id]; ok {
			return v
		}
		s, ok := byID[id]
		if !ok || seen > len(shards) { // unlisted, or a cycle in corrupt input
			return -1
		}
		v := 0
		for _, p := range s.parents {
			v = max(v, d(p, seen+1)+1)
		}
		depth[id] = v
		return v
	}
	out := make([]*shardInfo, 0, len(shards))
	for i := range shards {
		d(shards[i].id, 0)
		out = append(out, &shards[i])
	}
	slices.SortFunc(out, func(a, b *shardInfo) int {
		if c := cmp.Compare(depth[a.id], depth[b.id]); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return out
}

// progressed reports whether processing of a lease's shard has started: its checkpoint is a sequence
// number or SHARD_END rather than an initial position.
func progressed(l lease.Lease) bool {
	switch l.Checkpoint {
	case "", lease.TrimHorizon, lease.Latest, lease.AtTimestamp:
		return false
	}
	return true
}

// planCleanup returns the finished leases that may be deleted: every child shard (recorded in the lease,
// or listed with it as parent) has a lease that has progressed. A finished lease without known children
// is kept (it still blocks nothing, and deleting it could let rule 4 of shard sync recreate it).
func planCleanup(shards []shardInfo, leases []lease.Lease) []lease.Lease {
	children := map[string][]string{}
	for _, s := range shards {
		for _, p := range s.parents {
			children[p] = append(children[p], s.id)
		}
	}
	byKey := make(map[string]lease.Lease, len(leases))
	for _, l := range leases {
		byKey[l.Key] = l
	}
	var out []lease.Lease
	for _, l := range leases {
		if !l.Finished() {
			continue
		}
		kids := append(slices.Clone(l.ChildShardIDs), children[l.Key]...)
		if len(kids) == 0 {
			continue
		}
		ok := true
		for _, k := range kids {
			if cl, has := byKey[k]; !has || !progressed(cl) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}
