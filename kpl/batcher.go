package kpl

import (
	"errors"
	"slices"
	"time"

	"github.com/shardwise/shardwise/aggregation"
)

// shardState is the producer's per-shard machinery: the open aggregate, the queue of sealed Kinesis
// records, the rate limiter and the retry backoff. Guarded by Producer.mu.
type shardState struct {
	id  string
	rng aggregation.HashRange

	agg         *aggregation.Aggregator // open aggregate; nil when empty
	aggUsers    []*userRec
	aggCancel   int           // user records in aggUsers with a cancellable context
	aggLast     int           // user records in the last aggregate sealed: aggUsers' next capacity
	aggFirst    time.Time     // arrival of its oldest record
	aggOpenAt   time.Duration // when it opened (since Producer.epoch): the arrival of records joining it
	aggDeadline time.Time     // earliest TTL deadline in it (zero: none)
	aggOldest   time.Duration // earliest arrival in it (userRec.arrived), whose deadline that is
	aggSent     time.Time     // earliest first send of a re-routed record in it (zero: none)
	urgent      bool          // seal without waiting for Linger (Put)

	queue      []*kRec   // sealed, oldest first; retries go back to the front
	qBytes     int       // sum of size over queue
	inflight   int       // PutRecords calls carrying records of this shard
	slots      int       // most calls in flight at once: 1 per shard, noMapCalls without a map, MaxConnections in AUTO mode
	progress   time.Time // last time Kinesis accepted a record of this shard (or the state's birth)
	auto       bool      // the stream-level state of AUTO mode (id "")
	openShards int       // AUTO mode: the open shards its rate limit covers

	flying []*request // without a map (not AUTO): its calls in flight, oldest first
	calls  uint64     // without a map (not AUTO): the calls it started (request.seq of the latest)

	bucket       tokenBucket
	failures     int       // consecutive failed attempts
	backoffUntil time.Time // no sends before this
	closed       bool      // no longer in the shard map
}

// kRec is a Kinesis record: an aggregate or a single user record.
type kRec struct {
	users    []*userRec
	agg      *aggregation.Aggregator // until encoded
	entry    aggregation.Record      // once encoded
	size     int                     // data plus partition key before compression (limits use it)
	shard    *shardState             // predicted
	deadline time.Time               // earliest user deadline (zero: none)
	sentAt   time.Time               // first send of any of its user records (zero: never sent)
	due      time.Time               // send no later than this (zero: as soon as possible)
	attempts []Attempt
	cancel   int         // user records with a cancellable context (encode withdraws cancelled ones)
	aggr     bool        // entry is an aggregate
	comp     bool        // entry data is a compression frame
	encoded  bool        // entry is final (set by the sending goroutine before the first send)
	buf      *[]byte     // recycled payload buffer holding entry.Data, if any
	one      [1]*userRec // users of a single record: no slice of its own to allocate per record
}

// allAttempts returns the attempts that carried u: those before it was re-routed, then k's.
func (k *kRec) allAttempts(u *userRec) []Attempt {
	prior := u.prior()
	if len(prior) == 0 {
		return k.attempts
	}
	a := make([]Attempt, 0, len(prior)+len(k.attempts))
	return append(append(a, prior...), k.attempts...)
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	if b.IsZero() || a.Before(b) {
		return a
	}
	return b
}

// shardFor returns the shard u is routed to under the current map, or nil.
func (p *Producer) shardFor(u *userRec) *shardState {
	if p.streamLevel() {
		return p.autoShard
	}
	if p.smap == nil {
		return nil
	}
	i, _, ok := p.smap.Lookup(u.hk)
	if !ok {
		return nil
	}
	return p.shardList[i]
}

// routeLocked adds u to its shard's open aggregate (or queue). It reports whether the loop should
// wake: a Kinesis record was sealed on a shard that can send it now, or the open aggregate has a
// deadline (linger, TTL) before the loop's next planned run. A sealed record of a shard with a call
// in flight waits for that call's completion, which wakes the loop: waking it for every aggregate
// (one per few hundred records) costs a goroutine wake-up and a pass over the shards each time. It
// does not read the time argument (what counts is u's arrival): put passes none.
func (p *Producer) routeLocked(u *userRec, _ time.Time, out *outcomes) bool {
	if p.smap == nil && !p.streamLevel() {
		p.stamp(u)
		p.unrouted = append(p.unrouted, u)
		return len(p.unrouted) == 1 // the loop must learn the first expiry deadline
	}
	if max := p.maxRecordSize; max > 0 && int(u.size) > max {
		out.fail(u, &RecordError{Err: ErrRecordTooLarge, Attempts: u.prior()})
		return false
	}
	s := p.shardFor(u)
	if s == nil { // a gap in the map: resharding in progress
		p.stamp(u)
		p.unrouted = append(p.unrouted, u)
		p.requestRefresh("unroutable")
		return len(p.unrouted) == 1
	}
	if u.urgent {
		s.urgent = true
	}
	if !p.cfg.aggregate || s.auto || u.alone {
		p.stamp(u)
		k := p.single(u, s)
		k.due = p.arrival(u).Add(p.cfg.linger)
		s.push(k)
		return u.urgent || len(s.queue) == 1 || s.qBytes >= p.cfg.batchMaxBytes || len(s.queue) >= p.cfg.batchMaxRecords
	}
	wake := false
	sealed := func() { // the open aggregate went to the queue
		p.seal(s)
		wake = wake || (s.inflight < s.slots && p.inflight < p.cfg.maxConns)
	}
	for {
		if s.agg == nil {
			s.agg = p.newAggregator()
			if s.aggUsers == nil && s.aggLast > 0 { // about as many as last time: no regrowing
				s.aggUsers = p.usersSlice(s.aggLast + s.aggLast/8)
			}
			s.aggOpenAt = time.Since(p.epoch)
			if u.arrived == unstamped {
				u.arrived = s.aggOpenAt
			}
			s.aggFirst = p.arrival(u)
			s.aggDeadline = time.Time{}
			wake = wake || p.unplanned(s.aggFirst.Add(p.cfg.linger)) // a new linger deadline
		}
		if p.cfg.aggMaxCount > 0 && s.agg.Len() >= p.cfg.aggMaxCount {
			sealed()
			continue
		}
		if u.arrived == unstamped {
			u.arrived = s.aggOpenAt
		}
		err := s.agg.Add(aggregation.Record{PartitionKey: u.rec.PartitionKey, ExplicitHashKey: u.rec.ExplicitHashKey, Data: u.rec.Data})
		switch {
		case err == nil:
			s.aggUsers = append(s.aggUsers, u)
			if u.x != nil {
				if u.x.ctx != nil {
					s.aggCancel++
				}
				s.aggSent = earlier(s.aggSent, u.firstSent())
			}
			if len(s.aggUsers) == 1 || u.arrived < s.aggOldest { // deadlines grow with arrivals
				s.aggOldest = u.arrived
				s.aggDeadline = p.deadline(u)
				wake = wake || (!s.aggDeadline.IsZero() && p.unplanned(s.aggDeadline))
			}
			if s.agg.Size()+1 >= s.agg.MaxSize() { // cannot take even an empty record
				sealed()
			}
			return wake || u.urgent
		case errors.Is(err, aggregation.ErrFull) && s.agg.Len() > 0:
			sealed()
		default: // ErrTooLarge (validated keys cannot fail): send it alone, after what is open
			if s.agg.Len() > 0 {
				p.seal(s)
			} else {
				p.aggPool.put(s.agg)
				s.agg = nil
			}
			s.push(p.single(u, s))
			return true
		}
	}
}

// unplanned reports whether the loop must be woken to learn of deadline t: its next planned run
// is later (or there is none), or a Flush is sealing everything without waiting for Linger.
func (p *Producer) unplanned(t time.Time) bool {
	return p.loopAt.IsZero() || t.Before(p.loopAt) || p.flushing > 0
}

// noMapCalls is how many PutRecords calls may be in flight at once without a shard map (on a stream
// that is not AUTO). One call at a time leaves the producer idle while Kinesis works on the call and
// Kinesis idle while the producer handles the answer and builds the next call: a second call
// overlaps the two (measured with the agent against kinesistest in the same process on 2 cores:
// BenchmarkAgentThroughput/default). Calls in flight together carry no common hash key, so what
// is lost is only the order between records of different keys that may share a shard.
const noMapCalls = 2

// usersSlice returns an empty slice for an aggregate's user records, of at least capacity n: one
// of a delivered aggregate's, or a new one.
func (p *Producer) usersSlice(n int) []*userRec {
	if k := len(p.userSlices); k > 0 {
		us := p.userSlices[k-1]
		p.userSlices[k-1] = nil
		p.userSlices = p.userSlices[:k-1]
		if cap(us) >= n {
			return us
		}
	}
	return make([]*userRec, 0, n)
}

func (p *Producer) newAggregator() *aggregation.Aggregator {
	// An aggregate must fit the stream's maximum record size (partition key "a" counts); until
	// DescribeStreamSummary tells it, the 1 MiB every stream takes.
	limit := p.maxRecordSize
	if limit == 0 {
		limit = 1 << 20
	}
	size := min(p.cfg.aggMaxSize, limit-1)
	if a, ok := p.aggPool.get(); ok && a.MaxSize() == size {
		return a // pooled ones of another size (the limit changed) are dropped
	}
	return aggregation.NewAggregator(size)
}

func (p *Producer) single(u *userRec, s *shardState) *kRec {
	k := &kRec{
		entry:    aggregation.Record{PartitionKey: u.rec.PartitionKey, ExplicitHashKey: u.rec.ExplicitHashKey, Data: u.rec.Data},
		size:     int(u.size),
		shard:    s,
		deadline: p.deadline(u),
		sentAt:   u.firstSent(),
	}
	k.one[0] = u
	k.users = k.one[:]
	if u.ctx() != nil {
		k.cancel = 1
	}
	return k
}

// seal moves the open aggregate to the queue.
func (p *Producer) seal(s *shardState) {
	s.urgent = false
	if s.agg == nil {
		return
	}
	if s.agg.Len() == 0 {
		p.aggPool.put(s.agg)
		s.agg = nil
		return
	}
	k := &kRec{users: s.aggUsers, agg: s.agg, shard: s, deadline: s.aggDeadline, cancel: s.aggCancel, sentAt: s.aggSent}
	s.aggLast, s.aggCancel, s.aggSent = len(k.users), 0, time.Time{}
	if len(k.users) == 1 {
		k.size = int(k.users[0].size)
	} else {
		k.size = s.agg.Size() + len(aggregation.AggregatePartitionKey)
	}
	s.agg, s.aggUsers = nil, nil
	s.push(k)
}

func (s *shardState) push(k *kRec) {
	s.queue = append(s.queue, k)
	s.qBytes += k.size
}

// pop removes the head of the queue.
func (s *shardState) pop() *kRec {
	k := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	s.qBytes -= k.size
	return k
}

// keyInFlight reports whether a call in flight of this stream-level state (no shard map) carries a
// record of hash key hk.
func (s *shardState) keyInFlight(hk aggregation.HashKey) bool {
	for _, r := range s.flying {
		if r.keys[hk] {
			return true
		}
	}
	return false
}

// waitsForOlder reports whether this stream-level state (no shard map) must not start a call yet: a
// call older than its latest one is still in flight. The calls in flight are always consecutive, so
// a record is overtaken at most by the records of the call after its own (once their calls may be
// applied in either order), never by later ones.
func (s *shardState) waitsForOlder() bool {
	return len(s.flying) > 0 && s.flying[0].seq+uint64(s.slots) <= s.calls+1
}

// landed forgets the keys of r, a call of this state that got its outcome (under Producer.mu, before
// its failed records go back to the queue).
func (s *shardState) landed(r *request) {
	for i, f := range s.flying {
		if f == r {
			s.flying = slices.Delete(s.flying, i, i+1)
			return
		}
	}
}

// pushFront returns failed Kinesis records to the head of the queue, keeping their order.
func (s *shardState) pushFront(ks []*kRec) {
	if len(ks) == 0 {
		return
	}
	q := make([]*kRec, 0, len(ks)+len(s.queue))
	q = append(append(q, ks...), s.queue...)
	s.queue = q
	for _, k := range ks {
		k.due = time.Time{}
		s.qBytes += k.size
	}
}

// drain empties the shard (queue then open aggregate), calling f for every user record.
func (s *shardState) drain(f func(*userRec, *kRec)) {
	for _, k := range s.queue {
		for _, u := range k.users {
			f(u, k)
		}
	}
	s.queue, s.qBytes = nil, 0
	if len(s.aggUsers) > 0 {
		k := &kRec{}
		for _, u := range s.aggUsers {
			f(u, k)
		}
	}
	s.agg, s.aggUsers = nil, nil
}

// explode turns a Kinesis record back into its user records for re-routing, carrying the attempts
// made so far.
func explode(k *kRec, into []*userRec) []*userRec {
	for _, u := range k.users {
		if len(k.attempts) > 0 {
			u.setPrior(k.allAttempts(u)) // also sets firstSent: its first element is the first send
		}
		into = append(into, u)
	}
	return into
}

// applyMapLocked installs a new shard map and lays the shards out again.
func (p *Producer) applyMapLocked(m *aggregation.ShardMap, ranges map[string]aggregation.HashRange, now time.Time, out *outcomes) {
	for id, r := range ranges {
		p.ranges[id] = r
	}
	// AUTO inferred: when DescribeStreamSummary cannot be called (a policy from before AUTO existed),
	// aggregates landing on other shards under two fresh maps in a row of an unchanged shard set
	// mean the stream places records itself.
	if p.wrongStreak >= wrongShardRecheck && p.smap != nil && sameShards(p.smap, m) {
		p.wrongMaps++
	} else {
		p.wrongMaps = 0
	}
	if p.wrongMaps >= 2 && p.describeDenied && !p.auto {
		p.auto, p.autoInferred = true, true
	}
	p.smap = m
	p.mapGen++
	p.mapProgress = now
	p.wrongStreak = 0
	p.stats.ShardMapRefreshes++
	p.relayoutLocked(now, out)
}

// relayoutLocked builds the per-shard states for the current map and distribution: one state per
// open shard, or in AUTO mode a single stream-level state (no aggregation, no prediction, one rate
// limiter for the whole stream, several calls in flight). States that stayed keep their queues,
// aggregates, buckets and backoff; the records of states that left are re-routed (oldest first),
// then records waiting for a map. Aggregates that waited for a receiving shard's range are settled
// when the range is known and otherwise left for resolvePendingWrong.
func (p *Producer) relayoutLocked(now time.Time, out *outcomes) {
	var list []*shardState
	next := map[string]*shardState{}
	switch {
	case p.streamLevel():
		n := p.openShards // from DescribeStreamSummary; 0 when unknown: no client-side rate limit
		if p.smap != nil {
			n = p.smap.Len()
		}
		s := p.autoShard
		if s == nil {
			s = &shardState{auto: true, progress: now, openShards: -1}
			p.autoShard = s
		}
		s.slots = p.cfg.maxConns
		if !p.auto {
			// Keys still map to shards, which the producer cannot tell: calls in flight together
			// never share a hash key (see planLocked), so each key keeps its order.
			s.slots = min(noMapCalls, p.cfg.maxConns)
		}
		if s.openShards != n { // the stream-wide rate follows the shard count
			s.openShards = n
			s.bucket.init(p.cfg.rateLimit*n, now)
		}
		list = []*shardState{s}
	case p.smap == nil:
	default:
		p.autoShard = nil
		list = make([]*shardState, p.smap.Len())
		for i, sr := range p.smap.Shards() {
			s, ok := p.shards[sr.ShardID]
			if !ok || s.rng != sr.Range {
				s = &shardState{id: sr.ShardID, rng: sr.Range, slots: 1, progress: now}
				s.bucket.init(p.cfg.rateLimit, now)
			}
			list[i] = s
			next[sr.ShardID] = s
		}
	}
	kept := make(map[*shardState]bool, len(list))
	for _, s := range list {
		kept[s] = true
	}
	moved := p.unrouted
	p.unrouted = nil
	for _, s := range p.shardList {
		if kept[s] {
			continue
		}
		s.closed = true
		moved = p.takeUnsent(s, moved)
		if s.inflight > 0 {
			p.retiring = append(p.retiring, s) // its calls' outcomes fence the shards that take its keys
		}
	}
	p.shardList, p.shards = list, next

	pending := p.pendingWrong
	p.pendingWrong = nil
	for _, w := range pending {
		if _, known := p.ranges[w.shardID]; known || p.auto {
			moved = append(moved, p.splitWrongShard(w, out)...)
		} else {
			p.pendingWrong = append(p.pendingWrong, w)
		}
	}
	p.rerouteLocked(moved, now, out)
}

// takeUnsent empties s of what it has not sent (its queue, retries included, and its open
// aggregate) and appends the user records to into. The aggregators are dropped, not pooled (the
// pool holds flushed ones; this happens at reshards only).
func (p *Producer) takeUnsent(s *shardState, into []*userRec) []*userRec {
	for _, k := range s.queue {
		into = explode(k, into)
		p.releasePayload(k)
		k.agg = nil
	}
	into = append(into, s.aggUsers...)
	s.queue, s.qBytes, s.agg, s.aggUsers = nil, 0, nil, nil
	s.aggCancel, s.aggSent = 0, time.Time{}
	return into
}

// rerouteLocked routes user records again that left their Kinesis records (their shard left the
// map, their aggregate landed on a shard that does not own them, their call must be retried after a
// reshard, or they are sent alone after a refusal), in put order. They are older than any record of
// their keys put after them, which may already wait in the shards they go to: under StrictOrdering
// such a shard gives back what it has not sent, and the two are routed again together in put order.
// (Nothing later of their keys was sent meanwhile: see fencesLocked.)
func (p *Producer) rerouteLocked(us []*userRec, now time.Time, out *outcomes) {
	if len(us) == 0 {
		return
	}
	if p.cfg.strictOrdering && !p.auto {
		var merged map[*shardState]bool
		for _, u := range us[:len(us):len(us)] {
			s := p.shardFor(u)
			if s == nil || merged[s] || (len(s.queue) == 0 && len(s.aggUsers) == 0) {
				continue
			}
			if merged == nil {
				merged = map[*shardState]bool{}
			}
			merged[s] = true
			us = p.takeUnsent(s, us)
		}
	}
	slices.SortStableFunc(us, putOrder)
	for _, u := range us {
		p.routeLocked(u, now, out)
	}
}

// fencesLocked tells, under StrictOrdering, which shards must not send yet because older records of
// keys they own are unresolved elsewhere: in a call of a shard that left the map (its outcome may
// send them back, to be resent first), in an aggregate that landed on a shard whose range is not
// known yet, or waiting for a refreshed map after a wrong-shard result. all fences every shard (a
// stream-level state is among the unresolved); otherwise fenced holds the shards in the current
// map's states that are fenced, or is nil.
func (p *Producer) fencesLocked() (all bool, fenced map[*shardState]bool) {
	if !p.cfg.strictOrdering || p.auto {
		p.retiring = nil
		return false, nil
	}
	var ranges []aggregation.HashRange
	live := p.retiring[:0]
	for _, s := range p.retiring {
		if s.inflight == 0 {
			continue
		}
		live = append(live, s)
		if s.auto {
			all = true
		}
		ranges = append(ranges, s.rng)
	}
	clear(p.retiring[len(live):])
	p.retiring = live
	for _, w := range p.pendingWrong {
		if w.k.shard.auto {
			all = true
		}
		ranges = append(ranges, w.k.shard.rng)
	}
	if all {
		return true, nil
	}
	mark := func(s *shardState) {
		if fenced == nil {
			fenced = map[*shardState]bool{}
		}
		fenced[s] = true
	}
	for _, s := range p.shardList {
		if s.auto && len(ranges) > 0 {
			mark(s)
			continue
		}
		for _, r := range ranges {
			if r.Start.Compare(s.rng.End) <= 0 && s.rng.Start.Compare(r.End) <= 0 {
				mark(s)
				break
			}
		}
	}
	if len(p.unrouted) > 0 && len(p.shardList) > 0 {
		for _, u := range p.unrouted {
			if s := p.shardFor(u); s != nil {
				mark(s)
			}
		}
	}
	return false, fenced
}

// splitWrongShard handles an aggregate Kinesis stored on shard w.shardID although another shard was
// predicted: user records inside that shard's range are delivered (a consumer keeps them), the
// others are returned for re-sending (a consumer would drop them). When the range is unknown all
// are returned.
func (p *Producer) splitWrongShard(w wrongShard, out *outcomes) []*userRec {
	k := w.k
	rng, known := p.ranges[w.shardID]
	var resend []*userRec
	shared := &delivery{shardID: w.shardID, seq: w.seq, aggregated: k.aggr, attempts: k.attempts}
	for i, u := range k.users {
		if known && rng.Contains(u.hk) {
			d := shared
			if len(u.prior()) > 0 {
				d = &delivery{shardID: w.shardID, seq: w.seq, aggregated: k.aggr, attempts: k.allAttempts(u)}
			}
			out.ok(u, d, i)
			continue
		}
		resend = append(resend, u)
	}
	p.stats.Rerouted += uint64(len(resend))
	return explode(&kRec{users: resend, attempts: k.attempts}, nil)
}

func aggregationRecord(u *userRec) aggregation.Record {
	return aggregation.Record{PartitionKey: u.rec.PartitionKey, ExplicitHashKey: u.rec.ExplicitHashKey, Data: u.rec.Data}
}

// sameShards reports whether a and b hold the same open shards.
func sameShards(a, b *aggregation.ShardMap) bool {
	as, bs := a.Shards(), b.Shards()
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i] != bs[i] {
			return false
		}
	}
	return true
}
