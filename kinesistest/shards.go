package kinesistest

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/shardwise/shardwise/aggregation"
)

// ListShards with its filters, and resharding: SplitShard, MergeShards, UpdateShardCount. Resharding
// completes at once; the stream stays ACTIVE.

const (
	filterAfterShardID     = "AFTER_SHARD_ID"
	filterAtTrimHorizon    = "AT_TRIM_HORIZON"
	filterFromTrimHorizon  = "FROM_TRIM_HORIZON"
	filterAtLatest         = "AT_LATEST"
	filterAtTimestamp      = "AT_TIMESTAMP"
	filterFromTimestamp    = "FROM_TIMESTAMP"
	nextTokenTTL           = 300 * time.Second
	defaultListShardsLimit = 1000
)

// listToken is the state a ListShards NextToken carries.
type listToken struct {
	Stream   uint64
	After    int
	Filter   string `json:",omitempty"`
	FilterID string `json:",omitempty"`
	FilterTs int64  `json:",omitempty"` // Unix ms
	Issued   int64  // Unix ms
}

func (s *Server) listShards(c *call) ([]byte, *Error) {
	var in listShardsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	limit := s.cfg.listShardsPage
	if in.MaxResults != nil {
		n := *in.MaxResults
		if n < 1 || n > 10000 {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000", n)
		}
		limit = min(n, limit) // "greater than 1000: at most 1000 results are returned"
	}
	var tok listToken
	var st *stream
	if in.NextToken != "" {
		if in.StreamName != "" || in.StreamARN != "" || in.ExclusiveStartShardId != "" || in.StreamCreationTimestamp != nil {
			return nil, errInvalid("NextToken and StreamName/StreamARN/ExclusiveStartShardId/StreamCreationTimestamp cannot be provided together.")
		}
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || json.Unmarshal(raw, &tok) != nil {
			return nil, errInvalid("NextToken %s is invalid.", in.NextToken)
		}
		if c.now.Sub(time.UnixMilli(tok.Issued)) > nextTokenTTL {
			return nil, errorf(CodeExpiredNextToken, "The timestamp of the NextToken has expired.")
		}
		s.mu.RLock()
		st = s.byID[tok.Stream]
		s.mu.RUnlock()
		if st == nil {
			return nil, errNotFound("The stream of the NextToken no longer exists.")
		}
	} else {
		var apiErr *Error
		st, apiErr = s.lookup(in.streamRef)
		if apiErr != nil {
			return nil, apiErr
		}
		tok = listToken{Stream: st.id, After: -1}
		if in.ExclusiveStartShardId != "" {
			if idx, ok := parseShardIndex(in.ExclusiveStartShardId); ok {
				tok.After = idx
			}
		}
		if f := in.ShardFilter; f != nil {
			tok.Filter, tok.FilterID = f.Type, f.ShardId
			if f.Timestamp != nil {
				tok.FilterTs = time.Time(*f.Timestamp).UnixMilli()
			}
			switch f.Type {
			case filterAfterShardID:
				if f.ShardId == "" {
					return nil, errInvalid("ShardId is required for ShardFilter type AFTER_SHARD_ID.")
				}
			case filterAtTimestamp, filterFromTimestamp:
				if f.Timestamp == nil {
					return nil, errInvalid("Timestamp is required for ShardFilter type %s.", f.Type)
				}
			case filterAtTrimHorizon, filterFromTrimHorizon, filterAtLatest:
			default:
				return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]", f.Type)
			}
		}
	}

	st.mu.RLock()
	defer st.mu.RUnlock()
	keep := st.shardFilter(tok, c.now)
	out := listShardsOutput{Shards: []shardJSON{}}
	for _, sh := range st.shards {
		if sh.index <= tok.After || !st.visible(sh, c.now) || !keep(sh) {
			continue
		}
		if len(out.Shards) == limit {
			next := tok // After is the last shard returned
			next.Issued = c.now.UnixMilli()
			b, _ := json.Marshal(next)
			out.NextToken = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		out.Shards = append(out.Shards, st.shardJSON(sh))
		tok.After = sh.index
	}
	return encode(out)
}

// shardFilter returns the predicate of a ShardFilter. Caller holds st.mu.
func (st *stream) shardFilter(tok listToken, now time.Time) func(*shard) bool {
	horizon := st.horizon(now)
	openAt := func(t time.Time) func(*shard) bool {
		return func(sh *shard) bool {
			return !sh.created.After(t) && (sh.isOpen() || !sh.closedAt.Before(t))
		}
	}
	clamp := func(ms int64) time.Time {
		t := time.UnixMilli(ms)
		if t.Before(horizon) {
			return horizon
		}
		return t
	}
	switch tok.Filter {
	case filterAfterShardID:
		after, ok := parseShardIndex(tok.FilterID)
		if !ok {
			after = -1
		}
		return func(sh *shard) bool { return sh.index > after }
	case filterAtTrimHorizon:
		return openAt(horizon)
	case filterAtLatest:
		return func(sh *shard) bool { return sh.isOpen() }
	case filterAtTimestamp:
		return openAt(clamp(tok.FilterTs))
	case filterFromTimestamp:
		t := clamp(tok.FilterTs)
		return func(sh *shard) bool { return sh.isOpen() || !sh.closedAt.Before(t) }
	}
	return func(*shard) bool { return true } // FROM_TRIM_HORIZON, the default
}

// openShard returns shard id of st if it exists and is open. Caller holds st.mu.
func (st *stream) openShard(id string) (*shard, *Error) {
	sh := st.shardByID(id)
	if sh == nil {
		return nil, errNotFound("Could not find shard %s in stream %s under account.", id, st.name)
	}
	if !sh.isOpen() {
		return nil, errInvalid("Shard %s in stream %s is not open; it was closed by a previous reshard.", id, st.name)
	}
	return sh, nil
}

// splitAt closes sh and makes children [start, k-1] and [k, end]. Caller holds st.mu.
func (st *stream) splitAt(sh *shard, k aggregation.HashKey, now time.Time) (*shard, *shard) {
	lo, hi, _ := sh.rng.SplitAt(k) // callers checked start < k <= end
	st.closeShard(sh, now)
	left := st.newShard(lo, sh.id, "", now)
	right := st.newShard(hi, sh.id, "", now)
	sh.children = []*shard{left, right}
	return left, right
}

// merge closes a and b (adjacent) and makes their child. Caller holds st.mu.
func (st *stream) merge(a, b *shard, now time.Time) *shard {
	rng := aggregation.HashRange{Start: a.rng.Start, End: b.rng.End}
	if b.rng.Start.Compare(a.rng.Start) < 0 {
		rng = aggregation.HashRange{Start: b.rng.Start, End: a.rng.End}
	}
	st.closeShard(a, now)
	st.closeShard(b, now)
	child := st.newShard(rng, a.id, b.id, now)
	a.children = []*shard{child}
	b.children = []*shard{child}
	return child
}

func adjacent(a, b *shard) bool { return a.rng.Adjacent(b.rng) }

func (s *Server) splitShard(c *call) ([]byte, *Error) {
	var in splitShardInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	k, perr := aggregation.ParseHashKey(in.NewStartingHashKey)
	if perr != nil {
		return nil, errInvalid("NewStartingHashKey %s is not a valid hash key: %v", in.NewStartingHashKey, perr)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sh, err := st.openShard(in.ShardToSplit)
	if err != nil {
		return nil, err
	}
	if k.Compare(sh.rng.Start) <= 0 || k.Compare(sh.rng.End) > 0 {
		return nil, errInvalid("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", in.NewStartingHashKey, sh.id, st.name, sh.rng.Start, sh.rng.End)
	}
	st.splitAt(sh, k, c.now)
	st.rebuildOpen()
	st.trimAll(c.now)
	return []byte("{}"), nil
}

func (s *Server) mergeShards(c *call) ([]byte, *Error) {
	var in mergeShardsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	a, err := st.openShard(in.ShardToMerge)
	if err != nil {
		return nil, err
	}
	b, err := st.openShard(in.AdjacentShardToMerge)
	if err != nil {
		return nil, err
	}
	if a == b || !adjacent(a, b) {
		return nil, errInvalid("Shards %s and %s in stream %s are not an adjacent pair of shards eligible for merging.", a.id, b.id, st.name)
	}
	st.merge(a, b, c.now)
	st.rebuildOpen()
	st.trimAll(c.now)
	return []byte("{}"), nil
}

func (s *Server) updateShardCount(c *call) ([]byte, *Error) {
	var in updateShardCountInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.ScalingType != "UNIFORM_SCALING" {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]", in.ScalingType)
	}
	n := in.TargetShardCount
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := len(st.open)
	if n < 1 || n > 10000 {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'targetShardCount' failed to satisfy constraint: Member must have value between 1 and 10000", n)
	}
	if n > 2*cur || 2*n < cur {
		return nil, errorf(CodeLimitExceeded, "UpdateShardCount cannot scale %s from %d to %d shards: at most double or half the current count.", st.name, cur, n)
	}
	if st.mode == modeOnDemand {
		return nil, errorf(CodeValidation, "UpdateShardCount is not supported for ON_DEMAND stream %s.", st.name)
	}
	// Reach the uniform layout by splits and merges, so the lineage stays what Kinesis can express:
	// first split every open shard at each target boundary inside it, then merge the shards covering
	// each target range pairwise.
	targets := uniformRanges(n)
	for _, sh := range append([]*shard(nil), st.open...) {
		cur := sh
		for _, t := range targets[1:] {
			if t.Start.Compare(cur.rng.Start) > 0 && t.Start.Compare(cur.rng.End) <= 0 {
				_, cur = st.splitAt(cur, t.Start, c.now)
			}
		}
	}
	st.rebuildOpen()
	for _, t := range targets {
		var cover []*shard
		for _, sh := range st.open {
			if t.Contains(sh.rng.Start) {
				cover = append(cover, sh)
			}
		}
		for len(cover) > 1 {
			child := st.merge(cover[0], cover[1], c.now)
			cover = append([]*shard{child}, cover[2:]...)
		}
	}
	st.rebuildOpen()
	st.trimAll(c.now)
	return encode(updateShardCountOutput{StreamName: st.name, StreamARN: st.arn, CurrentShardCount: cur, TargetShardCount: n})
}
