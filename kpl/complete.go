package kpl

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/shardwise/shardwise/internal/awserr"
)

// callEvents gathers hook events while p.mu is held, to be delivered after unlocking.
type callEvents struct {
	put     PutRecordsEvent
	entries []EntryErrorEvent
	kinesis []KinesisRecordEvent
}

// complete applies the outcome of a request (res is positional with r.ks; callErr is the error of
// a call that failed as a whole): it resolves delivered records, requeues retryable ones at the
// front of their shard (or re-routes them when their shard left the map), fails the rest, and
// feeds throttling and failures back into each shard's rate limiter and backoff.
func (p *Producer) complete(r *request, res []entryResult, callErr error, calls int, start time.Time, dur time.Duration) {
	var out outcomes
	now := time.Now()
	wantEvents := len(p.hooks.put)+len(p.hooks.entry)+len(p.hooks.kinesis) > 0
	// Per-record events are gathered only for hooks that take them: a PutRecords hook alone (the
	// agent's) would otherwise cost an event per Kinesis record, and the slice's growth, per call.
	wantEntries, wantKinesis := len(p.hooks.entry) > 0, len(p.hooks.kinesis) > 0
	var ev callEvents
	if wantKinesis {
		ev.kinesis = make([]KinesisRecordEvent, 0, len(r.ks))
	}
	retries := map[*shardState][]*kRec{}
	var reroute []*userRec // routed again in put order once the retries are back in their queues

	p.mu.Lock()
	p.inflight--
	p.reqBytes -= r.charge
	for _, s := range r.shards {
		s.inflight--
		if r.keys != nil {
			s.landed(r)
		}
	}
	if len(r.ks) == 0 {
		p.mu.Unlock()
		p.wake()
		return
	}
	p.stats.PutRecordsCalls += uint64(calls)
	ev.put = PutRecordsEvent{Stream: p.stream, KinesisRecords: len(r.ks), Latency: dur, Err: callErr}
	failed := map[*shardState]bool{}
	delivered := map[*shardState]bool{}
	throttled := map[*shardState]int{} // throttled entries per shard state

	retry := func(k *kRec, e *entryResult) {
		throttle := e.class == awserr.Throttle
		if throttle {
			throttled[k.shard]++
			p.stats.EntriesThrottled++
		}
		if wantEntries {
			ev.entries = append(ev.entries, EntryErrorEvent{Stream: p.stream, ShardID: k.shard.id, Code: e.code, Message: e.msg,
				UserRecords: len(k.users), Retrying: !p.closed && !(throttle && p.cfg.failIfThrottled)})
		}
		switch {
		case p.closed:
			p.failAll(k, ErrClosed, e.code, e.msg, &out)
		case throttle && p.cfg.failIfThrottled:
			p.failAll(k, ErrThrottled, e.code, e.msg, &out)
		case !p.expiry(k).IsZero() && !now.Before(p.expiry(k)):
			p.expire(k, &out)
		default:
			p.stats.EntriesRetried++
			if e.ambiguous {
				p.stats.AmbiguousRecords += uint64(len(k.users))
			}
			if k.shard.closed {
				reroute = explode(k, reroute)
				p.releasePayload(k)
				return
			}
			retries[k.shard] = append(retries[k.shard], k)
		}
	}
	terminal := func(k *kRec, e *entryResult) {
		if e.invalid && k.aggr && !p.closed {
			// Kinesis refused the aggregate, not necessarily its records (over a size limit that
			// changed since it was sealed): each goes again on its own and is judged alone.
			p.requestRecheck("record refused")
			n := len(reroute)
			reroute = explode(k, reroute)
			for _, u := range reroute[n:] {
				u.alone = true
			}
			p.releasePayload(k)
			return
		}
		if wantEntries {
			ev.entries = append(ev.entries, EntryErrorEvent{Stream: p.stream, ShardID: k.shard.id, Code: e.code, Message: e.msg, UserRecords: len(k.users)})
		}
		var cause error = ErrRecordFailed
		switch {
		case e.invalid && e.cause != nil:
			cause = fmt.Errorf("%w: %w", ErrInvalidRecord, e.cause)
			p.requestRecheck("record refused") // the stream's maximum record size may have changed
		case e.cause != nil:
			cause = e.cause
		}
		p.failAll(k, cause, e.code, e.msg, &out)
		p.releasePayload(k)
	}

	for _, k := range r.ks {
		ev.put.UserRecords += len(k.users)
		ev.put.Bytes += k.size
	}
	var notFound bool
	for i := range res {
		e := &res[i]
		k := r.ks[i]
		if e.code != "" {
			k.attempts = append(k.attempts, Attempt{Time: start, Duration: dur, ShardID: k.shard.id, Code: e.code, Message: e.msg})
			ev.put.Failed++
			failed[k.shard] = true
			if e.class == awserr.Throttle {
				ev.put.Throttled++
			}
			if e.cause != nil && awserr.IsNotFound(e.cause) {
				notFound = true
			}
			if e.class == awserr.Terminal {
				terminal(k, e)
			} else {
				retry(k, e)
			}
			continue
		}
		shardID, seq := e.shardID, e.seq
		k.attempts = append(k.attempts, Attempt{Time: start, Duration: dur, ShardID: shardID})
		p.stats.KinesisRecords++
		delivered[k.shard] = true
		if wantKinesis {
			ev.kinesis = append(ev.kinesis, KinesisRecordEvent{Stream: p.stream, ShardID: shardID, UserRecords: len(k.users),
				Bytes: k.size, Aggregated: k.aggr, Compressed: k.comp})
		}
		if !k.shard.auto && shardID != k.shard.id && shardID != "" && p.wrongShardLocked(r, k, shardID, seq, &reroute, &out) {
			continue
		}
		out.deliver(k, &delivery{shardID: shardID, seq: seq, aggregated: k.aggr, attempts: k.attempts})
	}
	if notFound {
		p.requestRefresh("resource not found")
	}
	switch {
	case callErr != nil:
		e := &res[0]
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords failed",
			slog.String("code", e.code), slog.String("class", e.class.String()), slog.Int("entries", len(r.ks)), slog.String("message", e.msg))
	case ev.put.Failed > 0:
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords entries failed",
			slog.Int("failed", ev.put.Failed), slog.Int("throttled", ev.put.Throttled), slog.Int("entries", len(r.ks)))
	}

	for _, s := range r.shards {
		// Only throttling holds the rate down. An InternalFailure or a 5xx says nothing about the
		// shard's capacity, and under a steady rate of entry failures hardly any call is free of
		// them (at 1 %, 99 % of 500-entry calls carry one): counting them would keep a throttled
		// rate from recovering.
		// A stream-level state (AUTO, no shard map) covers every shard: one hot shard's throttled
		// entries must not slow the others, so it slows down only when at least one shard's share
		// of the call was throttled.
		switch t := throttled[s]; {
		case t > 0 && (!s.auto || s.openShards <= 1 || t*s.openShards >= len(r.ks)):
			s.bucket.throttled(now)
		case t == 0:
			s.bucket.succeeded(now)
		}
		if delivered[s] {
			s.progress = now
		}
		// The backoff grows only while nothing of the shard gets through: failed entries of a call
		// that delivered others are retried after the base delay, since the shard works.
		switch {
		case failed[s] && delivered[s]:
			s.failures = 0
			s.backoffUntil = now.Add(p.retry.Delay(0))
		case failed[s]:
			s.failures++
			s.backoffUntil = now.Add(p.retry.Delay(s.failures - 1))
		case delivered[s]:
			s.failures = 0
		}
		s.pushFront(retries[s])
		delete(retries, s)
	}
	p.rerouteLocked(reroute, now, &out)
	p.mu.Unlock()

	p.finish(out)
	if wantEvents {
		for _, h := range p.hooks.put {
			h.OnPutRecords(ev.put)
		}
		for _, e := range ev.entries {
			for _, h := range p.hooks.entry {
				h.OnEntryError(e)
			}
		}
		for _, e := range ev.kinesis {
			for _, h := range p.hooks.kinesis {
				h.OnKinesisRecordPut(e)
			}
		}
	}
	p.log.LogAttrs(context.Background(), slog.LevelDebug, "kpl PutRecords",
		slog.Int("entries", len(r.ks)), slog.Int("user_records", ev.put.UserRecords), slog.Duration("latency", dur))
	p.wake()
}

// wrongShardLocked handles a Kinesis record stored on a shard other than the predicted one. It
// reports whether it took care of k's user records (an aggregate: the ones a consumer of the
// receiving shard keeps are delivered, the others re-routed); a single record is simply delivered
// where it landed. A refresh is requested only when the request was routed by the current map: a
// result of a request sent before the latest refresh says nothing new.
func (p *Producer) wrongShardLocked(r *request, k *kRec, shardID, seq string, reroute *[]*userRec, out *outcomes) bool {
	p.stats.WrongShard++
	if p.closed {
		// Nothing is sent any more: what a consumer of the receiving shard keeps is delivered (when
		// its range is known), the rest fails with ErrClosed.
		if !k.aggr {
			return false
		}
		for _, u := range p.splitWrongShard(wrongShard{k: k, shardID: shardID, seq: seq}, out) {
			out.fail(u, &RecordError{Err: ErrClosed, ShardID: shardID, Attempts: u.prior()})
		}
		return true
	}
	current := r.gen == p.mapGen
	if current {
		p.wrongStreak++
		p.requestRefresh("wrong shard")
		if p.wrongStreak >= wrongShardRecheck {
			p.requestRecheck("wrong shard") // the stream may distribute records itself (AUTO)
		}
	}
	if !k.aggr {
		return false
	}
	w := wrongShard{k: k, shardID: shardID, seq: seq}
	if _, known := p.ranges[shardID]; !known {
		p.pendingWrong = append(p.pendingWrong, w) // settled once a listing tells its range
		p.requestRefresh("unknown shard")
		return true
	}
	resend := p.splitWrongShard(w, out)
	if current {
		// The current map predicted wrongly: route again after the refresh.
		p.unrouted = append(p.unrouted, resend...)
		return true
	}
	*reroute = append(*reroute, resend...)
	return true
}

// failAll fails every user record of k.
func (p *Producer) failAll(k *kRec, cause error, code, msg string, out *outcomes) {
	for _, u := range k.users {
		out.fail(u, &RecordError{Err: cause, Code: code, Message: msg, ShardID: k.shard.id, Attempts: k.allAttempts(u)})
	}
}
