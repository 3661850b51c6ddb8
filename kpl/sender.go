package kpl

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/internal/kinesisjson"
)

// request is one PutRecords call being built or in flight. Its Kinesis records and their user
// records belong to the call's goroutine until complete takes the lock.
type request struct {
	ks     []*kRec
	shards []*shardState
	gen    uint64                       // the shard map the records were routed by
	charge int64                        // counted in Producer.reqBytes while in flight
	keys   map[aggregation.HashKey]bool // without a map (not AUTO): the hash keys it carries
	seq    uint64                       // without a map (not AUTO): its number among the state's calls
}

// capAttempts makes the SDK try a PutRecords call once: the producer retries failed entries and
// calls itself, per shard, so SDK retries would multiply them (and drain the client's retry quota).
// It also tags the call's user agent.
func capAttempts(o *kinesis.Options) {
	o.RetryMaxAttempts = 1
	o.APIOptions = append(o.APIOptions, userAgent)
}

var userAgent = awsmiddleware.AddUserAgentKeyValue("shardwise-kpl", "1")

// loop is the dispatcher: it seals lingering aggregates, expires records, and starts PutRecords
// calls while connections and shard rate limits allow. It sleeps until the next deadline or a wake.
func (p *Producer) loop() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var out outcomes
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		now := time.Now()
		next, reqs := p.planLocked(now, &out)
		p.loopAt = next
		p.reqWG.Add(len(reqs))
		p.mu.Unlock()
		p.finish(out)
		for _, r := range reqs {
			go p.send(r)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-p.wakeCh:
		case <-timer.C:
		case <-p.closeCh:
		}
	}
}

// planLocked does the dispatcher's work for one pass and returns the next time it must run (zero:
// only when woken) and the calls to start.
func (p *Producer) planLocked(now time.Time, out *outcomes) (time.Time, []*request) {
	var next time.Time
	soon := func(t time.Time) { next = earlier(next, t) }

	// Records waiting for a map expire like any other; they arrive in time order mostly.
	for len(p.unrouted) > 0 {
		u := p.unrouted[0]
		if exp := p.userExpiry(u); exp.IsZero() || now.Before(exp) {
			soon(exp)
			break
		}
		out.fail(u, &RecordError{Err: ErrRecordExpired, Attempts: u.prior()})
		p.unrouted = p.unrouted[1:]
	}

	linger := p.cfg.linger
	if p.flushing > 0 {
		linger = 0
	}
	var eligible []*shardState
	fenceAll, fenced := p.fencesLocked()
	for _, s := range p.shardList {
		if s.agg != nil && len(s.aggUsers) > 0 {
			due := s.aggFirst.Add(linger)
			if s.urgent {
				due = now
			}
			expiring := !s.aggDeadline.IsZero() && !now.Before(s.aggDeadline)
			due = earlier(due, s.aggDeadline)
			switch {
			case now.Before(due):
				soon(due)
			case !expiring && p.cfg.strictOrdering && !s.auto && (len(s.queue) > 0 || s.inflight >= s.slots || fenceAll || fenced[s]):
				// StrictOrdering sends one Kinesis record per shard and call: while the shard
				// cannot send this aggregate now, it keeps filling (until full), so the next
				// call carries everything that arrived meanwhile instead of one linger's worth.
				// A completion or a lifted fence wakes the loop.
				soon(s.aggDeadline)
			case !expiring && p.cfg.strictOrdering && !s.auto && now.Before(s.backoffUntil):
				soon(earlier(s.backoffUntil, s.aggDeadline))
			default:
				p.seal(s)
			}
		}
		for len(s.queue) > 0 {
			if exp := p.expiry(s.queue[0]); exp.IsZero() || now.Before(exp) {
				soon(exp)
				break
			}
			p.expire(s.pop(), out)
		}
		if len(s.queue) == 0 || s.inflight >= s.slots || fenceAll || fenced[s] || (s.auto && !p.auto && s.waitsForOlder()) {
			continue // a lifted fence wakes the loop: a completion, a map applied
		}
		// Collect (no aggregation): wait for the head's linger unless a call would be full.
		if head := s.queue[0]; !head.due.IsZero() && now.Before(head.due) && p.flushing == 0 && !s.urgent &&
			len(s.queue) < p.cfg.batchMaxRecords && s.qBytes < p.cfg.batchMaxBytes {
			soon(head.due)
			continue
		}
		if now.Before(s.backoffUntil) {
			soon(s.backoffUntil)
			continue
		}
		if !s.bucket.allow(now, s.queue[0].size) {
			soon(now.Add(s.bucket.wait(s.queue[0].size)))
			continue
		}
		eligible = append(eligible, s)
		if s.auto { // one entry per free slot: the stream-level queue fills several calls
			for i := s.inflight + 1; i < s.slots && i*p.cfg.batchMaxRecords < len(s.queue); i++ {
				eligible = append(eligible, s)
			}
		}
	}

	free := p.cfg.maxConns - p.inflight
	if free <= 0 || len(eligible) == 0 {
		return next, nil
	}
	// Spread ready shards over the free connections (several shards share a call only when shards
	// outnumber connections), starting at a rotating offset so no shard is always last.
	perReq := (len(eligible) + free - 1) / free
	start := p.rr % len(eligible)
	p.rr++
	var reqs []*request
	var cur *request
	entries, bytes := 0, 0
	// Requests in flight hold their records' encoded copies (payload, request body): they get a
	// quarter of MaxBufferedBytes, and one request may always start.
	budget := p.cfg.maxBufBytes/4 - p.reqBytes
	full := false
	for i := 0; i < len(eligible) && !full; i++ {
		s := eligible[(start+i)%len(eligible)]
		if len(s.queue) == 0 || (s.auto && !p.auto && s.waitsForOlder()) {
			continue
		}
		head := s.queue[0]
		fits := entries < p.cfg.batchMaxRecords && (entries == 0 || bytes+head.size <= p.cfg.batchMaxBytes)
		if cur == nil || len(cur.shards) >= perReq || !fits || (s.auto && len(cur.shards) > 0) {
			if len(reqs) == free {
				break
			}
			cur = &request{gen: p.mapGen}
			reqs = append(reqs, cur)
			entries, bytes = 0, 0
		}
		taken := 0
		// Without a shard map (on a stream that is not AUTO) the keys' shards are unknown. A record
		// never joins a call while a record of its hash key is in another call in flight: the
		// calls may be applied in either order, and a record of the other call may fail and be
		// resent. So up to noMapCalls calls go at once and each key keeps its order. StrictOrdering
		// also sends at most one record per hash key per call (Kinesis may accept a later record
		// of a key and refuse an earlier one in the same call). The call stops at the first record
		// it may not take: nothing overtakes it.
		var keys map[aggregation.HashKey]bool
		if s.auto && !p.auto {
			keys = make(map[aggregation.HashKey]bool, min(len(s.queue), p.cfg.batchMaxRecords))
		}
		for len(s.queue) > 0 && entries < p.cfg.batchMaxRecords {
			k := s.queue[0]
			if entries > 0 && bytes+k.size > p.cfg.batchMaxBytes {
				break
			}
			if keys != nil && (s.keyInFlight(k.users[0].hk) || (p.cfg.strictOrdering && keys[k.users[0].hk])) {
				break
			}
			if taken > 0 && !s.bucket.allow(now, k.size) {
				soon(now.Add(s.bucket.wait(k.size)))
				break
			}
			charge := requestCharge(k)
			if charge > budget && (p.reqBytes > 0 || len(reqs) > 1 || entries > 0) {
				full = true // the next completion wakes the loop
				break
			}
			budget -= charge
			cur.charge += charge
			s.bucket.take(k.size)
			s.pop()
			if k.sentAt.IsZero() {
				k.sentAt = now
			}
			cur.ks = append(cur.ks, k)
			if keys != nil {
				keys[k.users[0].hk] = true
			}
			entries++
			bytes += k.size
			taken++
			if p.cfg.strictOrdering && !s.auto { // AUTO: no order across random shards to keep
				break
			}
		}
		if taken > 0 {
			s.inflight++
			s.urgent = false
			cur.shards = append(cur.shards, s)
			if keys != nil {
				s.calls++
				cur.keys, cur.seq = keys, s.calls
				s.flying = append(s.flying, cur)
			}
		}
	}
	n := 0
	for _, r := range reqs {
		if len(r.ks) > 0 {
			reqs[n] = r
			n++
		}
	}
	reqs = reqs[:n]
	p.inflight += len(reqs)
	for _, r := range reqs {
		p.reqBytes += r.charge
	}
	return next, reqs
}

// requestCharge is what a Kinesis record costs MaxBufferedBytes while its request is in flight:
// its payload (the aggregate flushed, or a compressed copy), the request body (base64, 4/3 of it)
// and their pooled buffers, plus the entry's JSON framing.
func requestCharge(k *kRec) int64 { return int64(k.size)*4 + 64 }

// expiry returns when k fails with ErrRecordExpired (zero: never). A record that was sent has
// RecordTTL from its first send. A record never sent has RecordTTL from its PutAsync and from the
// last time its shard made progress: waiting in the buffer behind a shard that delivers is not
// expiry (the buffer bound slows the caller instead), a shard through which nothing gets is.
func (p *Producer) expiry(k *kRec) time.Time {
	if p.cfg.ttl == 0 {
		return time.Time{}
	}
	if !k.sentAt.IsZero() {
		return backoff.AddSaturating(k.sentAt, p.cfg.ttl)
	}
	return later(k.deadline, backoff.AddSaturating(k.shard.progress, p.cfg.ttl))
}

// userExpiry is expiry for a user record waiting for a shard map: RecordTTL from its first send if
// it was sent, else from its PutAsync and from the last shard map applied.
func (p *Producer) userExpiry(u *userRec) time.Time {
	if p.cfg.ttl == 0 {
		return time.Time{}
	}
	if sent := u.firstSent(); !sent.IsZero() {
		return backoff.AddSaturating(sent, p.cfg.ttl)
	}
	return later(p.deadline(u), backoff.AddSaturating(p.mapProgress, p.cfg.ttl))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// expire fails every user record of k with ErrRecordExpired.
func (p *Producer) expire(k *kRec, out *outcomes) {
	code, msg := "", ""
	if n := len(k.attempts); n > 0 {
		code, msg = k.attempts[n-1].Code, k.attempts[n-1].Message
	}
	for _, u := range k.users {
		out.fail(u, &RecordError{Err: ErrRecordExpired, Code: code, Message: msg, ShardID: k.shard.id, Attempts: k.allAttempts(u)})
	}
	p.log.LogAttrs(context.Background(), slog.LevelError, "kpl records expired",
		slog.String("shard_id", k.shard.id), slog.Int("records", len(k.users)), slog.Int("attempts", len(k.attempts)))
}

// send encodes the request's Kinesis records, calls PutRecords and hands the outcome to complete.
func (p *Producer) send(r *request) {
	defer p.reqWG.Done()
	var cancelled outcomes
	kept := r.ks[:0]
	var unsummed [][]byte // aggregates flushed without their checksum, summed together below
	for _, k := range r.ks {
		if p.flush(k, &cancelled, &unsummed) {
			kept = append(kept, k)
		}
	}
	r.ks = kept
	aggregation.SealAggregates(unsummed)
	for _, k := range r.ks {
		p.finishEncode(k)
	}
	p.finish(cancelled)
	if len(r.ks) == 0 {
		p.complete(r, nil, nil, 0, time.Now(), 0)
		return
	}
	start := time.Now()
	res := make([]entryResult, len(r.ks))
	calls := 0
	err := p.putRecords(r.ks, res, &calls)
	p.complete(r, res, err, calls, start, time.Since(start))
}

// entryResult is the outcome of one Kinesis record of a request.
type entryResult struct {
	shardID, seq string // accepted (code == "")
	code, msg    string // failed: the entry's ErrorCode or the call's error code
	class        awserr.Class
	ambiguous    bool  // the call may have been applied
	invalid      bool  // Kinesis refused the call as invalid with this record alone in it
	cause        error // the call's error, for request-level failures
}

// errInvalidResponse stands for a PutRecords answer whose entries do not match the request.
var errInvalidResponse = errors.New("kpl: PutRecords response does not match the request")

// putRecords sends ks in one PutRecords call and writes each record's outcome into res. A call that
// Kinesis refuses as invalid at request level (a record over the stream's size, a key the service
// rejects) is split until the offending records are alone, so only they fail and the others are
// delivered; when every half and every quarter is refused exactly as the whole call was, no record
// is at fault (a malformed stream name, say) and the call fails as a whole after 7 calls instead of
// 2n-1. It returns the error of the call, nil when every entry got an answer of its own.
func (p *Producer) putRecords(ks []*kRec, res []entryResult, calls *int) error {
	c, err := p.callPutRecords(ks, res, calls)
	if err == nil || !c.Validation {
		return err
	}
	if len(ks) == 1 || p.baseCtx.Err() != nil {
		fillRefused(res, c, err, len(ks) == 1)
		return err
	}
	type piece struct {
		lo, hi int
		info   awserr.Info
		err    error
	}
	pieces := []piece{{0, len(ks), c, err}}
	for round := 0; round < 2; round++ {
		var next []piece
		same := true
		for _, pc := range pieces {
			if pc.hi-pc.lo < 2 {
				next, same = append(next, pc), false
				continue
			}
			mid := (pc.lo + pc.hi) / 2
			for _, q := range [2][2]int{{pc.lo, mid}, {mid, pc.hi}} {
				ci, e := p.callPutRecords(ks[q[0]:q[1]], res[q[0]:q[1]], calls)
				if e == nil || !ci.Validation {
					same = false
					continue
				}
				if ci.Code != c.Code || ci.Message != c.Message {
					same = false
				}
				next = append(next, piece{q[0], q[1], ci, e})
			}
		}
		pieces = next
		if !same {
			break
		}
		if round == 1 {
			p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords refused as invalid whatever records it carries",
				slog.String("code", c.Code), slog.String("message", c.Message), slog.Int("entries", len(ks)))
			fillRefused(res, c, err, false)
			return err
		}
	}
	for _, pc := range pieces {
		p.isolate(ks[pc.lo:pc.hi], res[pc.lo:pc.hi], pc.info, pc.err, calls)
	}
	p.log.LogAttrs(context.Background(), slog.LevelWarn, "kpl PutRecords refused as invalid; split it to find the records at fault",
		slog.String("code", c.Code), slog.String("message", c.Message), slog.Int("entries", len(ks)), slog.Int("calls", *calls))
	return nil
}

// isolate halves ks, a call refused as c says, until the refused records are alone.
func (p *Producer) isolate(ks []*kRec, res []entryResult, c awserr.Info, err error, calls *int) {
	if len(ks) == 1 || p.baseCtx.Err() != nil {
		fillRefused(res, c, err, len(ks) == 1)
		return
	}
	mid := len(ks) / 2
	for _, q := range [2][2]int{{0, mid}, {mid, len(ks)}} {
		if ci, e := p.callPutRecords(ks[q[0]:q[1]], res[q[0]:q[1]], calls); e != nil && ci.Validation {
			p.isolate(ks[q[0]:q[1]], res[q[0]:q[1]], ci, e, calls)
		}
	}
}

// fillRefused records a request-level refusal for every entry of res; blame says the refused
// record was alone in its call (the record itself is invalid).
func fillRefused(res []entryResult, c awserr.Info, err error, blame bool) {
	for i := range res {
		res[i] = entryResult{code: c.Code, msg: c.Message, class: awserr.Terminal, invalid: blame, cause: err}
	}
}

// callPutRecords makes one PutRecords call for ks. It writes each record's outcome into res, except
// when Kinesis refused the call as invalid (Info.Validation), which the caller resolves.
func (p *Producer) callPutRecords(ks []*kRec, res []entryResult, calls *int) (awserr.Info, error) {
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(ks))}
	if p.isARN {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	for i, k := range ks {
		e := &in.Records[i]
		e.Data = k.entry.Data
		if e.Data == nil {
			e.Data = []byte{} // an empty record is valid; the SDK refuses a nil (missing) Data
		}
		// The entry points into k (no copy per record): k is this goroutine's until complete, and
		// the SDK reads the input only during the call.
		e.PartitionKey = &k.entry.PartitionKey
		if k.entry.ExplicitHashKey != "" {
			e.ExplicitHashKey = &k.entry.ExplicitHashKey
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(p.baseCtx, p.attemptTimeout())
	out, err := p.client.PutRecords(ctx, in, capAttempts, kinesisjson.FastPutRecords)
	cancel()
	*calls++
	var answer *smithyhttp.ResponseError
	p.observeAttempt(time.Since(start), err == nil || errors.As(err, &answer),
		err != nil && errors.Is(err, context.DeadlineExceeded) && p.baseCtx.Err() == nil)
	if err == nil && out != nil && len(out.Records) == len(ks) {
		for i := range out.Records {
			e := &out.Records[i]
			if code := aws.ToString(e.ErrorCode); code != "" {
				res[i] = entryResult{code: code, msg: aws.ToString(e.ErrorMessage), class: awserr.EntryCode(code)}
			} else {
				res[i] = entryResult{shardID: aws.ToString(e.ShardId), seq: aws.ToString(e.SequenceNumber)}
			}
		}
		return awserr.Info{}, nil
	}
	var c awserr.Info
	if err != nil {
		c = awserr.Classify(err)
	} else {
		err = errInvalidResponse
		c = awserr.Info{Code: "InvalidResponse", Message: err.Error(), Class: awserr.Transient, Ambiguous: true}
	}
	if !c.Validation {
		for i := range res {
			res[i] = entryResult{code: c.Code, msg: c.Message, class: c.Class, ambiguous: c.Ambiguous, cause: err}
		}
	}
	return c, err
}

// A PutRecords call answers in tens of milliseconds; one that hangs (a lost connection, a stuck
// proxy or load balancer) holds its shards, one call per shard being in flight, until it is given
// up. Each attempt gets attemptTimeoutFactor times the recent longest answer, at least
// minAttemptTimeout (answers slowed to a second still complete) and at most RequestTimeout; every
// attempt in a row that timed out doubles it, so a path that is slow but works is not cut again
// and again.
const (
	minAttemptTimeout    = 2 * time.Second
	attemptTimeoutFactor = 4
)

// attemptTimeout returns the limit for the next PutRecords attempt.
func (p *Producer) attemptTimeout() time.Duration {
	d := max(minAttemptTimeout, attemptTimeoutFactor*time.Duration(p.latHigh.Load()))
	d <<= min(p.timeouts.Load(), 3)
	return min(d, p.cfg.requestTimeout)
}

// observeAttempt feeds one attempt into attemptTimeout: the longest answer, decaying by 1/16 per
// answered call, and the attempts in a row that timed out.
func (p *Producer) observeAttempt(d time.Duration, answered, timedOut bool) {
	if timedOut {
		p.timeouts.Add(1)
		return
	}
	if !answered {
		return
	}
	p.timeouts.Store(0)
	for {
		old := p.latHigh.Load()
		if p.latHigh.CompareAndSwap(old, max(int64(d), old-old/16)) {
			return
		}
	}
}

// flush starts building k's entry before its first send: it withdraws user records whose PutAsync
// context has ended (records never sent before only) and flushes the aggregate, whose payload it
// appends to unsummed: its MD5 trailer is written by SealAggregates, for all the call's aggregates
// at once. It reports whether anything is left to send; finishEncode completes the entry.
func (p *Producer) flush(k *kRec, cancelled *outcomes, unsummed *[][]byte) bool {
	if k.encoded {
		return true
	}
	if k.cancel > 0 && !p.withdraw(k, cancelled) {
		return false
	}
	if k.agg != nil {
		var buf *[]byte
		if k.agg.Len() > 1 {
			buf = p.getPayloadBuf()
		}
		var rec aggregation.Record
		var err error
		if buf != nil {
			rec, _, err = k.agg.AppendFlushUnsummed(*buf)
			k.buf = buf
		} else {
			rec, _, err = k.agg.Flush()
		}
		p.aggPool.put(k.agg)
		k.agg = nil
		if err != nil { // keys were validated in PutAsync
			for _, u := range k.users {
				cancelled.fail(u, &RecordError{Err: ErrInvalidRecord, Message: err.Error()})
			}
			return false
		}
		k.entry = rec
		k.aggr = len(k.users) > 1
		if k.aggr {
			*unsummed = append(*unsummed, rec.Data)
		}
	}
	return true
}

// finishEncode completes k's entry after flush and SealAggregates: it compresses the payload.
func (p *Producer) finishEncode(k *kRec) {
	if k.encoded {
		return
	}
	if p.enc != nil {
		if data, ok := p.enc.Compress(k.entry.Data); ok {
			k.entry.Data = data
			k.comp = true
			p.releasePayload(k)
		}
	}
	k.size = len(k.entry.Data) + len(k.entry.PartitionKey)
	k.encoded = true
}

// withdraw fails k's user records whose PutAsync context has ended (records never sent before
// only) and rebuilds k's aggregate without them. It reports whether anything is left to send.
func (p *Producer) withdraw(k *kRec, cancelled *outcomes) bool {
	withdrawn := func(u *userRec) bool {
		ctx := u.ctx()
		return ctx != nil && len(u.prior()) == 0 && ctx.Err() != nil
	}
	// Mostly nothing is withdrawn (every record of the agent has a cancellable context): no new
	// slice then.
	if !slices.ContainsFunc(k.users, withdrawn) {
		return true
	}
	keep := k.users[:0:0]
	for _, u := range k.users {
		if withdrawn(u) {
			cancelled.fail(u, &RecordError{Err: u.ctx().Err()})
			continue
		}
		keep = append(keep, u)
	}
	k.users = keep
	if k.agg != nil {
		k.agg.Flush()
		for _, u := range keep {
			_ = k.agg.Add(aggregationRecord(u)) // same records, fewer of them: cannot fail
		}
	}
	if len(keep) == 0 {
		if k.agg != nil {
			p.aggPool.put(k.agg)
			k.agg = nil
		}
		return false
	}
	return true
}

// getPayloadBuf returns a recycled buffer for an aggregated payload.
func (p *Producer) getPayloadBuf() *[]byte {
	if b, ok := p.payloads.get(); ok {
		return b
	}
	b := make([]byte, 0, p.cfg.aggMaxSize)
	return &b
}

// releasePayload recycles k's payload buffer once nothing reads it any more: after the call that
// carried it returned (the SDK has serialized it) and k will not be resent, or after compression
// replaced it.
func (p *Producer) releasePayload(k *kRec) {
	if k.buf == nil {
		return
	}
	if k.comp {
		*k.buf = (*k.buf)[:0]
	} else {
		*k.buf = k.entry.Data[:0]
		k.entry.Data = nil
	}
	p.payloads.put(k.buf)
	k.buf = nil
}
