package aggregation

import (
	"fmt"
	"math/bits"
	"sort"
)

// HashRange is an inclusive range of hash keys, as a shard owns them: [Start, End].
type HashRange struct {
	Start, End HashKey // both inclusive, as in a shard's HashKeyRange
}

// FullHashRange covers every hash key, [0, 2^128-1].
var FullHashRange = HashRange{Start: HashKey{}, End: MaxHashKey}

// ParseHashRange parses a shard's decimal StartingHashKey and EndingHashKey.
func ParseHashRange(start, end string) (HashRange, error) {
	s, err := ParseHashKey(start)
	if err != nil {
		return HashRange{}, err
	}
	e, err := ParseHashKey(end)
	if err != nil {
		return HashRange{}, err
	}
	if s.Compare(e) > 0 {
		return HashRange{}, fmt.Errorf("aggregation: hash range start %s is after end %s", s, e)
	}
	return HashRange{Start: s, End: e}, nil
}

// Contains reports whether k lies in r, bounds included.
func (r HashRange) Contains(k HashKey) bool {
	return r.Start.Compare(k) <= 0 && k.Compare(r.End) <= 0
}

// String returns "[start, end]" in decimal.
func (r HashRange) String() string {
	return "[" + r.Start.String() + ", " + r.End.String() + "]"
}

// ShardRange names the hash range a shard owns.
type ShardRange struct {
	ShardID string    // e.g. "shardId-000000000000"
	Range   HashRange // the shard's HashKeyRange
}

// ShardMap finds the shard owning a hash key among non-overlapping ranges (the open shards of a
// stream). Lookups are a binary search over sorted starts. A ShardMap is immutable and safe for
// concurrent use; build a new one when the shards change.
type ShardMap struct {
	shards []ShardRange // sorted by Range.Start
	starts []uint128    // shards[i].Range.Start as integers, for the search
}

type uint128 struct{ hi, lo uint64 }

func (k HashKey) u128() uint128 {
	hi, lo := k.Uint64s()
	return uint128{hi, lo}
}

// lessEq reports a <= b.
func (a uint128) lessEq(b uint128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo) }

// NewShardMap builds a map from shards whose ranges must not overlap. Gaps are allowed (a stream being
// resharded can show them); keys in a gap are not found.
func NewShardMap(shards []ShardRange) (*ShardMap, error) {
	s := make([]ShardRange, len(shards))
	copy(s, shards)
	sort.Slice(s, func(i, j int) bool { return s[i].Range.Start.Compare(s[j].Range.Start) < 0 })
	starts := make([]uint128, len(s))
	for i := range s {
		if s[i].Range.Start.Compare(s[i].Range.End) > 0 {
			return nil, fmt.Errorf("aggregation: shard %s has an empty hash range %s", s[i].ShardID, s[i].Range)
		}
		if i > 0 && s[i-1].Range.End.Compare(s[i].Range.Start) >= 0 {
			return nil, fmt.Errorf("aggregation: shards %s %s and %s %s overlap",
				s[i-1].ShardID, s[i-1].Range, s[i].ShardID, s[i].Range)
		}
		starts[i] = s[i].Range.Start.u128()
	}
	return &ShardMap{shards: s, starts: starts}, nil
}

// Len returns the number of shards in the map.
func (m *ShardMap) Len() int { return len(m.shards) }

// Shards returns the shards sorted by starting hash key. The caller must not modify the slice.
func (m *ShardMap) Shards() []ShardRange { return m.shards }

// Lookup returns the index (into [ShardMap.Shards]) and range of the shard owning k, or false when
// no shard does.
func (m *ShardMap) Lookup(k HashKey) (int, ShardRange, bool) {
	// Largest i with starts[i] <= k, by a search without branches on the key: producers look up
	// random keys, which a branchy search mispredicts about once per halving.
	key := k.u128()
	n := len(m.starts)
	if n == 0 {
		return -1, ShardRange{}, false
	}
	base := 0
	for n > 1 {
		half := n / 2
		// le is 1 when starts[base+half] <= key: subtracting start from key borrows otherwise.
		s := m.starts[base+half]
		_, borrow := bits.Sub64(key.lo, s.lo, 0)
		_, borrow = bits.Sub64(key.hi, s.hi, borrow)
		base += half * int(1-borrow)
		n -= half
	}
	i := base
	if !m.starts[i].lessEq(key) { // only the first start can be above the key
		i = -1
	}
	if i < 0 || m.shards[i].Range.End.Compare(k) < 0 {
		return -1, ShardRange{}, false
	}
	return i, m.shards[i], true
}

// Holes returns the hash ranges no shard covers, in order. A healthy set of open shards has none.
func (m *ShardMap) Holes() []HashRange {
	var holes []HashRange
	next := HashKey{}
	atEnd := false
	for _, s := range m.shards {
		if !atEnd && next.Compare(s.Range.Start) < 0 {
			holes = append(holes, HashRange{Start: next, End: dec(s.Range.Start)})
		}
		if s.Range.End == MaxHashKey {
			atEnd = true
		} else {
			next = inc(s.Range.End)
		}
	}
	if !atEnd {
		holes = append(holes, HashRange{Start: next, End: MaxHashKey})
	}
	return holes
}

func inc(k HashKey) HashKey {
	hi, lo := k.Uint64s()
	lo++
	if lo == 0 {
		hi++
	}
	return HashKeyFromUint64s(hi, lo)
}

func dec(k HashKey) HashKey {
	hi, lo := k.Uint64s()
	if lo == 0 {
		hi--
	}
	lo--
	return HashKeyFromUint64s(hi, lo)
}
