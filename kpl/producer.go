package kpl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/internal/backoff"
)

// KinesisAPI is the part of *kinesis.Client the Producer calls, with the SDK's exact signatures.
// It may gain methods in minor versions: pass a *kinesis.Client (or kinesistest's) rather than a
// hand-written implementation.
type KinesisAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// A Producer batches, aggregates, rate-limits and retries records for one stream. It is safe for
// concurrent use; make one per stream and reuse it. Stop it with Flush (optional) then Close.
type Producer struct {
	cfg      config
	client   KinesisAPI
	stream   string // name or ARN as given
	isARN    bool
	hooks    hooks
	log      *slog.Logger
	enc      *compression.Encoder
	retry    backoff.Policy
	aggPool  freeList[*aggregation.Aggregator]
	payloads freeList[*[]byte] // aggregated payload buffers

	epoch     time.Time       // New's time: user records' arrival is counted from it
	baseCtx   context.Context // lifecycle: cancelled by Close after requests finished
	cancel    context.CancelFunc
	wg        sync.WaitGroup // loop and refresher
	reqWG     sync.WaitGroup // in-flight PutRecords calls
	wakeCh    chan struct{}  // cap 1: the loop has work
	closeCh   chan struct{}  // closed by Close
	refresh   chan string    // cap 1: a reason to refresh the shard map now
	recheck   chan string    // cap 1: a reason to describe the stream again now
	described chan struct{}  // closed after the first DescribeStreamSummary attempt
	once      sync.Once
	latHigh   atomic.Int64 // recent longest PutRecords answer (ns, decaying): see attemptTimeout
	timeouts  atomic.Int32 // PutRecords attempts in a row that timed out

	mu             sync.Mutex // guards everything below; never held across I/O or channel waits
	closed         bool
	maxRecordSize  int  // 0 until known (the stream is then the judge of record sizes)
	auto           bool // the stream distributes records itself (RecordDistributionStrategy AUTO)
	noPredict      bool // no shard map: DisableShardPrediction, or ListShards was denied
	openShards     int  // OpenShardCount from DescribeStreamSummary (0: unknown)
	smap           *aggregation.ShardMap
	mapGen         uint64        // incremented by every map applied
	mapProgress    time.Time     // when the last map was applied (or the producer started)
	wrongStreak    int           // wrong-shard results under the current map
	wrongMaps      int           // maps in a row of the same shards that each saw a wrong-shard streak
	describeDenied bool          // DescribeStreamSummary fails for good (no permission)
	autoInferred   bool          // AUTO inferred from wrong-shard results, not yet reported
	autoShard      *shardState   // the single stream-level queue used in AUTO mode
	shardList      []*shardState // parallel to smap.Shards(), or just autoShard in AUTO mode
	shards         map[string]*shardState
	ranges         map[string]aggregation.HashRange // every shard ever listed, closed ones included
	unrouted       []*userRec                       // no map yet, or hash key in a gap
	pendingWrong   []wrongShard                     // wait for a refresh to learn the receiving shard's range
	retiring       []*shardState                    // states that left the map with calls in flight (StrictOrdering fences)
	inflight       int                              // PutRecords calls
	reqBytes       int64                            // charged by the requests in flight (requestCharge)
	rr             int                              // round-robin start for fairness
	loopAt         time.Time                        // when the loop runs next unless woken (zero: only when woken)
	userSlices     [][]*userRec                     // emptied user slices of delivered aggregates, for new ones
	flushing       int
	bufRecords     int
	bufBytes       int64
	spaceCh        chan struct{} // closed and replaced when buffer space is freed, if waiters > 0
	waiters        int
	stats          Stats
}

type wrongShard struct {
	k       *kRec
	shardID string
	seq     string
}

// New returns a Producer for stream (a name, or an ARN starting with "arn:"). It starts background
// goroutines that load the shard map and the stream's maximum record size; records put meanwhile
// wait. Invalid options return an error wrapping ErrInvalidConfig.
func New(client KinesisAPI, stream string, opts ...Option) (*Producer, error) {
	if client == nil {
		return nil, invalidConfig("nil client")
	}
	if stream == "" {
		return nil, invalidConfig("empty stream name")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("kpl: %w", err)
	}
	h, err := sortHooks(cfg.hooks)
	if err != nil {
		return nil, fmt.Errorf("kpl: %w", err)
	}
	p := &Producer{
		cfg:       cfg,
		client:    client,
		stream:    stream,
		isARN:     strings.HasPrefix(stream, "arn:"),
		hooks:     h,
		log:       cfg.logger.With("stream", stream),
		retry:     backoff.Policy{Base: cfg.backoffBase, Max: cfg.backoffMax},
		wakeCh:    make(chan struct{}, 1),
		closeCh:   make(chan struct{}),
		refresh:   make(chan string, 1),
		recheck:   make(chan string, 1),
		described: make(chan struct{}),
		shards:    map[string]*shardState{},
		ranges:    map[string]aggregation.HashRange{},
		spaceCh:   make(chan struct{}),
		aggPool:   newFreeList[*aggregation.Aggregator](freeAggregators),
		payloads:  newFreeList[*[]byte](freePayloads),
	}
	if cfg.compress {
		if p.enc, err = compression.NewEncoder(compression.LevelFastest); err != nil {
			return nil, fmt.Errorf("kpl: %w", err)
		}
	}
	if cfg.maxRecordSizeFixed > 0 {
		p.maxRecordSize = cfg.maxRecordSizeFixed
	}
	p.latHigh.Store(int64(cfg.requestTimeout / attemptTimeoutFactor)) // RequestTimeout until calls answer
	p.epoch = time.Now()
	p.mapProgress = p.epoch
	if cfg.noPredict {
		p.noPredict = true
		var out outcomes
		p.relayoutLocked(p.epoch, &out) // nothing is buffered yet: out stays empty
	}
	p.baseCtx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(3)
	go p.loop()
	go p.refresher()
	go p.describer()
	return p, nil
}

// How many emptied aggregators and payload buffers a producer keeps for reuse (each about 50 KiB at
// the default AggregationMaxSize: at most 2.5 MiB kept when idle).
const (
	freeAggregators = 16
	freePayloads    = 32
)

// Delivered aggregates' user slices (of at least minReusedUsers) are kept for new aggregates, up to
// keptUserSlices of them.
const (
	minReusedUsers = 16
	keptUserSlices = 64
)

// freeList keeps values for reuse: up to a fixed number in a list that garbage collections leave
// alone, the rest in a sync.Pool (which every other collection empties). A pool alone sends the
// producer back to the heap for 50 KiB buffers several times a second, and fresh memory costs page
// faults, which on virtual machines cost more than the work done in the buffer; the pool behind
// the list takes the bursts (a call encoding many aggregates at once). The zero value keeps nothing.
type freeList[T any] struct {
	ch   chan T
	pool *sync.Pool
}

func newFreeList[T any](n int) freeList[T] {
	return freeList[T]{ch: make(chan T, n), pool: new(sync.Pool)}
}

// get returns a kept value, if any.
func (f freeList[T]) get() (T, bool) {
	select {
	case v := <-f.ch:
		return v, true
	default:
	}
	if f.pool != nil {
		if v, ok := f.pool.Get().(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// put keeps v for a later get.
func (f freeList[T]) put(v T) {
	select {
	case f.ch <- v:
	default:
		if f.pool != nil {
			f.pool.Put(v)
		}
	}
}

// streamLevel reports whether records go to one stream-level queue instead of per-shard ones: on an
// AUTO stream, or without a shard map (DisableShardPrediction, or ListShards denied).
func (p *Producer) streamLevel() bool { return p.auto || p.noPredict }

// recordOverhead is what MaxBufferedBytes charges per record beyond its data and partition key:
// the userRec (128 bytes), its copy in the open aggregate (80 bytes), slice slots, its share of the
// aggregate's key tables, and the objects a collection finds live while the producer keeps
// allocating (BenchmarkProducerMemory1KiB measures the sum against the bound).
const recordOverhead = 448

// recordCharge is what a user record of size bytes (data plus partition key) costs MaxBufferedBytes
// while it is held: its bytes and bookkeeping, and with aggregation its encoded copy in the open
// (or sealed) aggregate, whose buffer is allocated at AggregationMaxSize.
func (p *Producer) recordCharge(size int) int64 {
	if p.cfg.aggregate { // the aggregate's buffer: its copy plus a quarter of slack (capacity)
		return int64(size*9/4 + recordOverhead)
	}
	return int64(size + recordOverhead)
}

// userRec is an accepted user record; it embeds the Future handed to the caller.
// It is allocated per record, so it keeps only what every record needs, in 128 bytes (two cache
// lines): its arrival is monotonic nanoseconds since the producer's epoch, its TTL deadline and
// first send are derived (arrival, deadline, firstSent), and what few records have (a cancellable
// context, attempts from before a re-route) lives in an extension allocated only for them.
type userRec struct {
	Future
	rec     Record
	hk      aggregation.HashKey
	arrived time.Duration // since Producer.epoch (monotonic clock); unstamped until routed
	size    int32         // data plus partition key bytes
	urgent  bool          // Put: its shard sends without waiting for Linger
	alone   bool          // an aggregate carrying it was refused as invalid: send it on its own
	x       *userExt      // nil unless it has a cancellable context or was re-routed
}

// putOrder compares a and b by put order: until a record is resolved, its Future's sub (the
// sub-sequence number once delivered) holds the low 32 bits of its put count, so that records
// routed again (after a reshard, a wrong shard, a retry of a shard that left the map) go out in put
// order. The difference wraps: records put within 2^31 of each other compare correctly, far more
// than a buffer holds.
func putOrder(a, b *userRec) int {
	d := a.sub - b.sub
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// unstamped is userRec.arrived before routeLocked stamps it. A record that joins an open aggregate
// takes the time the aggregate opened (at most Linger before its PutAsync: the aggregate is sealed
// then), so only the record that opens an aggregate, or goes alone, reads the clock: a clock read
// costs about as much as a tenth of the rest of PutAsync on virtual machines.
const unstamped time.Duration = -1

// stamp gives u its arrival, now, unless it has one.
func (p *Producer) stamp(u *userRec) {
	if u.arrived == unstamped {
		u.arrived = time.Since(p.epoch)
	}
}

// userExt holds what only some user records have.
type userExt struct {
	ctx   context.Context // cancellable PutAsync context, until the record is resolved
	prior []Attempt       // attempts of Kinesis records that carried it before it was re-routed
}

// ctx returns u's cancellable PutAsync context, or nil.
func (u *userRec) ctx() context.Context {
	if u.x == nil {
		return nil
	}
	return u.x.ctx
}

// prior returns the attempts of Kinesis records that carried u before it was re-routed.
func (u *userRec) prior() []Attempt {
	if u.x == nil {
		return nil
	}
	return u.x.prior
}

func (u *userRec) setPrior(a []Attempt) {
	if u.x == nil {
		u.x = &userExt{}
	}
	u.x.prior = a
}

// arrival returns when u was put.
func (p *Producer) arrival(u *userRec) time.Time { return p.epoch.Add(u.arrived) }

// deadline returns u's RecordTTL deadline counted from its PutAsync (zero: never expires).
func (p *Producer) deadline(u *userRec) time.Time {
	if p.cfg.ttl <= 0 {
		return time.Time{}
	}
	return backoff.AddSaturating(p.arrival(u), p.cfg.ttl)
}

// firstSent returns when u was first sent if it was re-routed since (zero otherwise): the first
// attempt recorded in prior, which explode sets to every attempt that carried it.
func (u *userRec) firstSent() time.Time {
	if prior := u.prior(); len(prior) > 0 {
		return prior[0].Time
	}
	return time.Time{}
}

// PutAsync hands r to the producer and returns its Future, never nil. ctx bounds the wait for
// buffer space and cancels the record until it is first sent; after that the record is delivered or
// fails by itself (RecordTTL). Invalid records fail through the Future: ErrInvalidRecord,
// ErrRecordTooLarge; after Close, ErrClosed.
func (p *Producer) PutAsync(ctx context.Context, r Record) *Future {
	return p.put(ctx, r, false, false)
}

// TryPutAsync is PutAsync without waiting: when the buffer is full the Future fails at once with
// ErrMaxBuffered.
func (p *Producer) TryPutAsync(ctx context.Context, r Record) *Future {
	return p.put(ctx, r, true, false)
}

// Put sends r without waiting for Linger and waits for its outcome; ctx bounds both waits (the
// record itself is not withdrawn once sent).
func (p *Producer) Put(ctx context.Context, r Record) (Result, error) {
	return p.put(ctx, r, false, true).Wait(ctx)
}

func (p *Producer) put(ctx context.Context, r Record, noWait, urgent bool) *Future {
	size := len(r.Data) + len(r.PartitionKey)
	// The record is written before its key is validated and hashed: its memory is usually not in
	// the cache, and the writes complete while the hash is computed instead of holding up the
	// lock below (a locked instruction waits for every earlier write). Its arrival is stamped by
	// routeLocked (see userRec.arrived) unless done-hooks measure its latency.
	u := &userRec{rec: r, size: int32(size), arrived: unstamped}
	if len(p.hooks.done) > 0 {
		u.arrived = time.Since(p.epoch) // one monotonic clock read (time.Now reads the wall clock too)
	}
	hk, err := aggregation.EffectiveHashKey(r.PartitionKey, r.ExplicitHashKey)
	if err != nil {
		return p.reject(&RecordError{Err: fmt.Errorf("%w: %w", ErrInvalidRecord, err)}, size)
	}
	u.hk = hk
	if len(r.ExplicitHashKey) > 1 && r.ExplicitHashKey[0] == '0' {
		// Kinesis's pattern is 0|([1-9]\d{0,38}): a zero-padded key would fail the whole call.
		u.rec.ExplicitHashKey = hk.String()
	}
	if ctx.Done() != nil {
		u.x = &userExt{ctx: ctx}
	}

	var out outcomes
	p.mu.Lock()
	if max := p.maxRecordSize; max > 0 && size > max {
		p.mu.Unlock()
		return p.reject(&RecordError{Err: ErrRecordTooLarge,
			Message: fmt.Sprintf("%d bytes of data and partition key, stream maximum %d", size, max)}, size)
	}
	mem := p.recordCharge(size)
	for !p.closed && p.bufRecords > 0 &&
		(p.bufRecords >= p.cfg.maxBufRecords || p.bufBytes+mem > p.cfg.maxBufBytes-p.cfg.maxBufBytes/4) {
		if noWait {
			p.mu.Unlock()
			return p.reject(&RecordError{Err: ErrMaxBuffered}, size)
		}
		ch := p.spaceCh
		p.waiters++
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
			return p.reject(&RecordError{Err: ctx.Err()}, size)
		case <-p.closeCh:
		}
		p.mu.Lock()
		p.waiters--
	}
	if p.closed {
		p.mu.Unlock()
		return p.reject(&RecordError{Err: ErrClosed}, size)
	}
	p.bufRecords++
	p.bufBytes += mem
	p.stats.RecordsPut++
	u.sub = int32(p.stats.RecordsPut) // its put order until it is delivered (see putOrder)
	pending := p.bufRecords
	u.urgent = urgent
	wake := p.routeLocked(u, time.Time{}, &out) // it reads u's arrival, not the time
	p.mu.Unlock()

	for _, h := range p.hooks.buffered {
		h.OnRecordBuffered(RecordBufferedEvent{Stream: p.stream, Bytes: size, Pending: pending})
	}
	p.finish(out)
	if wake {
		p.wake()
	}
	return &u.Future
}

// reject resolves a record that was never accepted.
func (p *Producer) reject(err *RecordError, size int) *Future {
	for _, h := range p.hooks.done {
		h.OnRecordDone(RecordDoneEvent{Stream: p.stream, Bytes: size, Code: err.Code, Err: err})
	}
	return newFailedFuture(err)
}

func (p *Producer) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

func (p *Producer) requestRefresh(reason string) {
	select {
	case p.refresh <- reason:
	default:
	}
}

// Flush sends everything buffered without waiting for Linger and returns when no record is
// buffered (records put meanwhile included) or ctx ends, returning ctx.Err().
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.flushing++
	defer func() {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
	}()
	for p.bufRecords > 0 && !p.closed {
		ch := p.spaceCh
		p.waiters++
		p.mu.Unlock()
		p.wake()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
			return ctx.Err()
		case <-p.closeCh:
		}
		p.mu.Lock()
		p.waiters--
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// Close fails every record not yet sent with ErrClosed, waits for calls in flight (at most
// RequestTimeout) and reports their outcome (records that would be retried fail with ErrClosed),
// then stops the producer's goroutines. It is idempotent and safe concurrently with PutAsync; for a
// graceful stop call Flush first.
func (p *Producer) Close() error {
	p.once.Do(func() {
		var out outcomes
		// Records never sent share one error value: Close may fail a whole buffer at once, and
		// allocating an error per record would grow memory at that moment.
		unsent := &RecordError{Err: ErrClosed}
		closedErr := func(u *userRec, k *kRec, shardID string) *RecordError {
			attempts := u.prior()
			if k != nil {
				attempts = k.allAttempts(u)
			}
			if len(attempts) == 0 {
				return unsent
			}
			return &RecordError{Err: ErrClosed, Attempts: attempts, ShardID: shardID}
		}
		p.mu.Lock()
		p.closed = true
		for _, u := range p.unrouted {
			out.fail(u, closedErr(u, nil, ""))
		}
		p.unrouted = nil
		for _, w := range p.pendingWrong {
			for _, u := range w.k.users {
				out.fail(u, closedErr(u, w.k, w.shardID))
			}
		}
		p.pendingWrong = nil
		for _, s := range p.shardList {
			s.drain(func(u *userRec, k *kRec) { out.fail(u, closedErr(u, k, s.id)) })
		}
		close(p.closeCh)
		p.mu.Unlock()
		p.finish(out)
		p.reqWG.Wait()
		p.cancel()
		p.wg.Wait()
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "kpl producer closed")
	})
	return nil
}

// Stats is a snapshot of the producer's gauges and counters.
type Stats struct {
	BufferedRecords  int   // user records accepted and not yet resolved (queued or in flight)
	BufferedBytes    int64 // their data and partition key bytes plus bookkeeping (see MaxBufferedBytes)
	InFlightRequests int   // PutRecords calls in flight
	InFlightBytes    int64 // what the calls in flight hold of MaxBufferedBytes (encoded copies)
	OpenShards       int   // shards in the current map

	RecordsPut        uint64 // user records accepted
	RecordsDelivered  uint64 // user records resolved with a Result
	RecordsFailed     uint64 // resolved with an error after acceptance (expired and closed included)
	RecordsExpired    uint64 // of RecordsFailed: resolved with ErrRecordExpired (RecordTTL)
	KinesisRecords    uint64 // Kinesis records accepted by Kinesis
	PutRecordsCalls   uint64 // PutRecords calls made, failed ones included
	EntriesRetried    uint64 // Kinesis records resent after a failed entry or call
	EntriesThrottled  uint64 // entries failed with ProvisionedThroughputExceededException
	AmbiguousRecords  uint64 // user records resent after a call whose outcome was unknown (possible duplicates)
	WrongShard        uint64 // Kinesis records that landed on a shard other than predicted
	Rerouted          uint64 // user records resent because they lay outside the receiving shard's range
	ShardMapRefreshes uint64 // shard-map refreshes that replaced the map
}

// Stats returns a snapshot of the producer's state.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.BufferedRecords = p.bufRecords
	s.BufferedBytes = p.bufBytes
	s.InFlightRequests = p.inflight
	s.InFlightBytes = p.reqBytes
	if p.smap != nil {
		s.OpenShards = p.smap.Len()
	}
	return s
}

// outcomes collects resolutions decided under p.mu (the outcome is written into the user record,
// which nobody else touches until its Future resolves), to be published after unlocking. Delivered
// Kinesis records are kept whole: finish writes their user records' outcomes, so the lock is not
// held for a pass over every user record, and each user record is touched once.
type outcomes struct {
	items     []*userRec
	delivered []delivered
	users     int // user records in delivered
}

// delivered is a Kinesis record Kinesis accepted, whose user records (all of them) are delivered.
type delivered struct {
	k *kRec
	d *delivery
}

func (o *outcomes) fail(u *userRec, err *RecordError) {
	u.err = err
	o.items = append(o.items, u)
}

// ok delivers u as user record sub of the Kinesis record d describes.
func (o *outcomes) ok(u *userRec, d *delivery, sub int) {
	u.d, u.sub = d, int32(sub)
	o.items = append(o.items, u)
}

// deliver delivers every user record of k, which Kinesis stored as d says (d.attempts being k's).
func (o *outcomes) deliver(k *kRec, d *delivery) {
	o.delivered = append(o.delivered, delivered{k, d})
	o.users += len(k.users)
}

// finish releases buffer space for the records in o and resolves their Futures.
func (p *Producer) finish(o outcomes) {
	if len(o.items) == 0 && len(o.delivered) == 0 {
		return
	}
	var failed, expired uint64
	for _, u := range o.items {
		if u.err != nil {
			failed++
			if errors.Is(u.err, ErrRecordExpired) {
				expired++
			}
		}
	}
	p.mu.Lock()
	p.stats.RecordsDelivered += uint64(len(o.items)) - failed + uint64(o.users)
	p.stats.RecordsFailed += failed
	p.stats.RecordsExpired += expired
	p.mu.Unlock()

	var now time.Time
	hooked := len(p.hooks.done) > 0
	if hooked {
		now = time.Now()
	}
	var bytes int64
	for _, u := range o.items {
		bytes += p.recordCharge(int(u.size))
		p.resolve(u, hooked, now)
	}
	var reuse [][]*userRec
	for _, dl := range o.delivered {
		k, d := dl.k, dl.d
		// Two passes over each run of user records: the first writes their outcomes, the second
		// publishes them. Their memory is rarely still cached, and publishing is a locked
		// instruction that waits for every earlier write: in one pass each record's cache misses
		// would be waited for one record at a time, in two they overlap.
		const run = 128
		for lo := 0; lo < len(k.users); lo += run {
			users := k.users[lo:min(lo+run, len(k.users))]
			for j, u := range users {
				u.d, u.sub = d, int32(lo+j)
				if u.x != nil {
					if len(u.x.prior) > 0 { // re-routed: its attempts are its own
						u.d = &delivery{shardID: d.shardID, seq: d.seq, aggregated: d.aggregated, attempts: k.allAttempts(u)}
					}
					u.x.ctx = nil
				}
				u.rec.Data = nil // the caller owns it again
				bytes += p.recordCharge(int(u.size))
			}
			for _, u := range users {
				if hooked {
					p.hookDone(u, now)
				}
				u.resolve()
			}
		}
		p.releasePayload(k)
		if cap(k.users) >= minReusedUsers {
			clear(k.users)
			reuse = append(reuse, k.users[:0])
		}
		k.users = nil
	}

	// The space is freed after the futures resolved, so that Flush, which waits for an empty
	// buffer, never returns before the futures of what it flushed are done.
	p.mu.Lock()
	for _, us := range reuse {
		if len(p.userSlices) < keptUserSlices {
			p.userSlices = append(p.userSlices, us)
		}
	}
	p.bufRecords -= len(o.items) + o.users
	p.bufBytes -= bytes
	if p.waiters > 0 {
		close(p.spaceCh)
		p.spaceCh = make(chan struct{})
	}
	p.mu.Unlock()
}

// resolve hands u's data back to the caller and publishes its outcome.
func (p *Producer) resolve(u *userRec, hooked bool, now time.Time) {
	u.rec.Data = nil // the caller owns it again
	if u.x != nil {
		u.x.ctx = nil
	}
	if hooked {
		p.hookDone(u, now)
	}
	u.resolve()
}

func (p *Producer) hookDone(u *userRec, now time.Time) {
	arrived := p.arrival(u)
	e := RecordDoneEvent{Stream: p.stream, Bytes: int(u.size), Latency: now.Sub(arrived)}
	var attempts []Attempt
	if re := u.err; re != nil {
		attempts = re.Attempts
		e.Err, e.Code, e.ShardID = re, re.Code, re.ShardID
	} else if u.d != nil {
		attempts = u.d.attempts
		e.ShardID = u.d.shardID
	}
	e.Attempts = len(attempts)
	if len(attempts) > 0 {
		e.BufferingTime = attempts[0].Time.Sub(arrived)
	}
	for _, h := range p.hooks.done {
		h.OnRecordDone(e)
	}
}
