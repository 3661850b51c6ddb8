package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// shardLineage decides when tail may start reading a shard: once every parent it knows of has been
// read to its end. It is owned by one goroutine.
type shardLineage struct {
	shards  map[string]types.Shard // every shard seen, by id
	done    map[string]bool        // read to the end (or nothing to read)
	started map[string]bool
	initial bool // the next ready() is the first: shards found later hold only new data
}

// newShardLineage starts from a listing. With latest, closed shards count as done at once: LATEST of a
// closed shard is its end, so there is nothing to read there.
func newShardLineage(shards []types.Shard, latest bool) *shardLineage {
	l := &shardLineage{shards: map[string]types.Shard{}, done: map[string]bool{}, started: map[string]bool{}, initial: true}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		l.shards[id] = s
		if latest && s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			l.started[id], l.done[id] = true, true
		}
	}
	return l
}

// add records shards not seen before (children after a reshard).
func (l *shardLineage) add(shards ...types.Shard) {
	for _, s := range shards {
		if id := aws.ToString(s.ShardId); l.shards[id].ShardId == nil {
			l.shards[id] = s
		}
	}
}

// addChildren records the children a shard-end event named.
func (l *shardLineage) addChildren(children []types.ChildShard) {
	for _, c := range children {
		s := types.Shard{ShardId: c.ShardId, HashKeyRange: c.HashKeyRange}
		if len(c.ParentShards) > 0 {
			s.ParentShardId = aws.String(c.ParentShards[0])
		}
		if len(c.ParentShards) > 1 {
			s.AdjacentParentShardId = aws.String(c.ParentShards[1])
		}
		l.add(s)
	}
}

// finish marks a shard read to its end.
func (l *shardLineage) finish(id string) { l.done[id] = true }

// ready returns the shards to start now, marked started, and whether this is the first call (shards
// of the first call start at the requested position; later ones, which appeared while tailing, from
// TRIM_HORIZON).
func (l *shardLineage) ready() (shards []types.Shard, first bool) {
	for id, s := range l.shards {
		if l.started[id] {
			continue
		}
		ok := true
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if pid := aws.ToString(p); pid != "" && l.shards[pid].ShardId != nil && !l.done[pid] {
				ok = false
			}
		}
		if ok {
			l.started[id] = true
			shards = append(shards, s)
		}
	}
	first, l.initial = l.initial, false
	return shards, first
}
