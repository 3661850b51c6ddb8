package kpl

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// callEvents gathers hook events while p.mu is held, to be delivered after unlocking.
type callEvents struct {
	put     PutRecordsEvent
	entries []EntryErrorEvent
	kinesis []KinesisRecordEvent
}

// complete applies a PutRecords outcome: it resolves delivered records, requeues retryable ones at
// the front of their shard (or re-routes them when their shard left the map), fails the rest, and
// feeds throttling and failures back into each shard's rate limiter and backoff.
func (p *Producer) complete(r *request, out *kinesis.PutRecordsOutput, err error, start time.Time, dur time.Duration) {
	var res outcomes
	now := time.Now()
	wantEvents := len(p.hooks.put)+len(p.hooks.entry)+len(p.hooks.kinesis) > 0
	var ev callEvents
	retries := map[*shardState][]*kRec{}

	p.mu.Lock()
	p.inflight--
	for _, s := range r.shards {
		s.inflight = false
	}
	if len(r.ks) == 0 {
		p.mu.Unlock()
		p.wake()
		return
	}
	p.stats.PutRecordsCalls++
	ev.put = PutRecordsEvent{KinesisRecords: len(r.ks), Latency: dur, Err: err}
	failed := map[*shardState]bool{}
	throttled := map[*shardState]bool{}

	retry := func(k *kRec, code, msg string, throttle, ambiguous bool) {
		failed[k.shard] = true
		if throttle {
			throttled[k.shard] = true
			p.stats.EntriesThrottled++
		}
		if wantEvents {
			ev.entries = append(ev.entries, EntryErrorEvent{ShardID: k.shard.id, Code: code, Message: msg,
				UserRecords: len(k.users), Retrying: !p.closed && !(throttle && p.cfg.failIfThrottled)})
		}
		switch {
		case p.closed:
			p.failAll(k, ErrClosed, code, msg, &res)
		case throttle && p.cfg.failIfThrottled:
			p.failAll(k, ErrThrottled, code, msg, &res)
		case !k.deadline.IsZero() && !now.Before(k.deadline):
			p.expire(k, &res)
		default:
			p.stats.EntriesRetried++
			if ambiguous {
				p.stats.AmbiguousRecords += uint64(len(k.users))
			}
			if k.shard.closed {
				for _, u := range explode(k, nil) {
					p.routeLocked(u, now, &res)
				}
				return
			}
			retries[k.shard] = append(retries[k.shard], k)
		}
	}
	terminal := func(k *kRec, code, msg string, cause error) {
		failed[k.shard] = true
		if wantEvents {
			ev.entries = append(ev.entries, EntryErrorEvent{ShardID: k.shard.id, Code: code, Message: msg, UserRecords: len(k.users)})
		}
		p.failAll(k, cause, code, msg, &res)
		p.releasePayload(k)
	}

	for _, k := range r.ks {
		ev.put.UserRecords += len(k.users)
		ev.put.Bytes += k.size
	}
	res.items = make([]*userRec, 0, ev.put.UserRecords)
	if err != nil || out == nil || len(out.Records) != len(r.ks) {
		c := reqErr{code: "InvalidResponse", msg: "PutRecords response does not match the request", retryable: true, ambiguous: true}
		if err != nil {
			c = classifyRequestError(err)
		}
		ev.put.Failed = len(r.ks)
		for _, k := range r.ks {
			k.attempts = append(k.attempts, Attempt{Time: start, Duration: dur, ShardID: k.shard.id, Code: c.code, Message: c.msg})
			if c.retryable {
				retry(k, c.code, c.msg, c.throttle, c.ambiguous)
			} else {
				cause := error(ErrRecordFailed)
				if err != nil {
					cause = err
				}
				terminal(k, c.code, c.msg, cause)
			}
		}
		if c.throttle {
			ev.put.Throttled = len(r.ks)
		}
		if c.notFound {
			p.requestRefresh("resource not found")
		}
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords failed",
			slog.String("code", c.code), slog.Bool("retrying", c.retryable), slog.Int("entries", len(r.ks)), slog.String("message", c.msg))
	} else {
		for i := range out.Records {
			e := &out.Records[i]
			k := r.ks[i]
			if code := aws.ToString(e.ErrorCode); code != "" {
				msg := aws.ToString(e.ErrorMessage)
				k.attempts = append(k.attempts, Attempt{Time: start, Duration: dur, ShardID: k.shard.id, Code: code, Message: msg})
				ev.put.Failed++
				retryable, throttle := entryCodeClass(code)
				if throttle {
					ev.put.Throttled++
				}
				if retryable {
					retry(k, code, msg, throttle, false)
				} else {
					terminal(k, code, msg, ErrRecordFailed)
				}
				continue
			}
			shardID, seq := aws.ToString(e.ShardId), aws.ToString(e.SequenceNumber)
			k.attempts = append(k.attempts, Attempt{Time: start, Duration: dur, ShardID: shardID})
			p.stats.KinesisRecords++
			if wantEvents {
				ev.kinesis = append(ev.kinesis, KinesisRecordEvent{ShardID: shardID, UserRecords: len(k.users),
					Bytes: k.size, Aggregated: k.aggr, Compressed: k.comp})
			}
			if shardID != k.shard.id && shardID != "" {
				p.stats.WrongShard++
				p.requestRefresh("wrong shard")
				if k.aggr {
					w := wrongShard{k: k, shardID: shardID, seq: seq}
					if _, known := p.ranges[shardID]; known {
						// Re-route after the refresh: the current map predicted wrongly.
						p.unrouted = append(p.unrouted, p.splitWrongShard(w, &res)...)
					} else {
						p.pendingWrong = append(p.pendingWrong, w)
					}
					continue
				}
			}
			for j, u := range k.users {
				res.ok(u, Result{ShardID: shardID, SequenceNumber: seq, SubSequenceNumber: j, Aggregated: k.aggr,
					Attempts: k.allAttempts(u)})
			}
			p.releasePayload(k)
		}
		if ev.put.Failed > 0 {
			p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords entries failed",
				slog.Int("failed", ev.put.Failed), slog.Int("throttled", ev.put.Throttled), slog.Int("entries", len(r.ks)))
		}
	}

	for _, s := range r.shards {
		switch {
		case throttled[s]:
			s.bucket.throttled(now)
		case !failed[s]:
			s.bucket.succeeded(now)
		}
		if failed[s] {
			s.failures++
			s.backoffUntil = now.Add(p.retry.Delay(s.failures - 1))
		} else {
			s.failures = 0
		}
		s.pushFront(retries[s])
	}
	p.mu.Unlock()

	p.finish(res)
	if wantEvents {
		for _, h := range p.hooks.put {
			h.OnPutRecords(p.stream, ev.put)
		}
		for _, e := range ev.entries {
			for _, h := range p.hooks.entry {
				h.OnEntryError(p.stream, e)
			}
		}
		for _, e := range ev.kinesis {
			for _, h := range p.hooks.kinesis {
				h.OnKinesisRecordPut(p.stream, e)
			}
		}
	}
	p.log.LogAttrs(context.Background(), slog.LevelDebug, "kpl PutRecords",
		slog.Int("entries", len(r.ks)), slog.Int("user_records", ev.put.UserRecords), slog.Duration("latency", dur))
	p.wake()
}

// failAll fails every user record of k.
func (p *Producer) failAll(k *kRec, cause error, code, msg string, out *outcomes) {
	for _, u := range k.users {
		out.fail(u, &RecordError{Err: cause, Code: code, Message: msg, ShardID: k.shard.id, Attempts: k.allAttempts(u)})
	}
}
