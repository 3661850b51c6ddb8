package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/internal/faultproxy"
)

// worker is one slot of a consumer fleet; a restarted worker gets a new generation (and lease
// owner name).
type worker struct {
	name      string // w1, w2, ...
	gen       int
	owner     string
	p         *proc
	dynamoURL string
	proxy     *faultproxy.Proxy // nil: direct
}

// fleet is a set of `shardwise consume` workers sharing one lease table, watched by a lease
// monitor.
type fleet struct {
	s                 *scen
	stream, app, kurl string
	t                 *tally
	args              []string
	workers           []*worker
	mon               *leaseMonitor
	fo                *failoverTracker
	mu                sync.Mutex
	dead              map[string]bool // owners killed or cut off
	stopMon           context.CancelFunc
	monDone           chan struct{}
	exitErrs          []string
}

// newFleet starts n workers (each behind its own DynamoDB proxy when proxied) and the monitor.
func (s *scen) newFleet(ctx context.Context, n int, stream, kurl string, t *tally, proxied bool, args ...string) (*fleet, error) {
	f := &fleet{s: s, stream: stream, app: "chaos-" + s.name + "-" + s.r.runTok,
		kurl: kurl, t: t, args: args, dead: map[string]bool{}, fo: newFailoverTracker()}
	f.mon = newLeaseMonitor(s.r.db, f.app)
	f.mon.onScan = func() { f.fo.update(f.mon, f.isDead) }
	for i := range n {
		w := &worker{name: "w" + strconv.Itoa(i+1), dynamoURL: s.r.dynamoURL}
		if proxied {
			p, err := s.proxy(s.r.dynamoURL)
			if err != nil {
				return nil, err
			}
			w.proxy, w.dynamoURL = p, p.URL()
		}
		f.workers = append(f.workers, w)
		if err := f.startWorker(w); err != nil {
			return nil, err
		}
	}
	mctx, cancel := context.WithCancel(ctx)
	f.stopMon, f.monDone = cancel, make(chan struct{})
	go func() { defer close(f.monDone); f.mon.run(mctx, 250*time.Millisecond) }()
	s.onCleanup(func() {
		cancel()
		<-f.monDone
		// dynalite keeps every table in memory: drop the scenario's lease table.
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = s.r.db.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(f.app)})
	})
	return f, nil
}

func (f *fleet) isDead(owner string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead[owner]
}

func (f *fleet) setDead(owner string, dead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dead {
		f.dead[owner] = true
	} else {
		delete(f.dead, owner)
	}
}

func (f *fleet) startWorker(w *worker) error {
	w.gen++
	w.owner = fmt.Sprintf("%s-g%d", w.name, w.gen)
	p, err := f.s.consumer(w.name, w.owner, f.stream, f.app, f.kurl, w.dynamoURL, f.t, f.args...)
	w.p = p
	return err
}

// kill SIGKILLs w, notes its leases as waiting for a take-over, and starts its next generation.
func (f *fleet) killAndRestart(w *worker) error {
	f.mon.scan(context.Background()) // the freshest view of what it holds
	now := time.Now()
	w.p.kill()
	f.setDead(w.owner, true)
	f.fo.died(f.mon, w.owner, now)
	return f.startWorker(w)
}

// balanced reports whether every open lease has a live owner and every worker owns at least one.
func (f *fleet) balanced() bool {
	snap := f.mon.snapshot()
	if len(snap) == 0 {
		return false
	}
	owned := map[string]int{}
	for _, st := range snap {
		if st.checkpoint == "SHARD_END" {
			continue
		}
		if st.owner == "" || f.isDead(st.owner) {
			return false
		}
		owned[st.owner]++
	}
	for _, w := range f.workers {
		if owned[w.owner] == 0 {
			return false
		}
	}
	return true
}

// stop sends SIGTERM to every worker and notes the exit errors (a clean shutdown exits 0).
func (f *fleet) stop() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, w := range f.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.p.term(20 * time.Second); err != nil {
				mu.Lock()
				f.exitErrs = append(f.exitErrs, w.owner+": "+err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f.stopMon()
	<-f.monDone
}

// finishProducers stops every producer (each gets d to deliver), breaks the promise for each that
// failed and notes how long the slowest took to deliver what it held once its input ended.
func finishProducers(res *result, prods []*producer, d time.Duration) {
	if len(prods) == 0 {
		return
	}
	var wg sync.WaitGroup
	errs := make([]error, len(prods))
	start := time.Now()
	for i, pr := range prods {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = pr.finish(d) }()
	}
	wg.Wait()
	res.extra = append(res.extra, "put_flush="+time.Since(start).Round(100*time.Millisecond).String())
	for _, err := range errs {
		if err != nil {
			res.breakf("%v", err)
		}
	}
}

// endRun stops producers, drains, stops the fleet and fills the result.
func (s *scen) endRun(ctx context.Context, res *result, t *tally, prods []*producer, f *fleet) {
	finishProducers(res, prods, s.dur(90*time.Second, 3*time.Minute)) // a strict put under a's faults is slow to drain
	drained := drain(ctx, t, s.dur(45*time.Second, 90*time.Second))
	if f != nil {
		f.stop()
		if len(f.exitErrs) > 0 {
			res.extra = append(res.extra, "worker_exit_errors="+strconv.Itoa(len(f.exitErrs)))
			res.breakf("workers did not shut down cleanly: %s", strings.Join(f.exitErrs, ", "))
		}
		if n := f.mon.regressionCount(); n > 0 {
			res.breakf("%d checkpoint regressions (a stale checkpoint write landed)", n)
		}
	}
	if !drained {
		res.extra = append(res.extra, "drain=timeout")
	}
	s.fill(res, t)
}

// a: producers under 20 % injected faults of every kind: the server's InternalFailure entries,
// 500s, 503s, slow answers, resets after applying and hung calls (local-kinesis --fault-rate 0.12),
// plus, on the producers' link (fault proxy), connection resets before the call, whole-call
// ProvisionedThroughputExceededException throttling and hung calls (8 %), and the server's real
// per-shard limits. Three producers (one --strict-ordering, one --no-aggregate), two workers.
func runProducerFaults(ctx context.Context, s *scen) (*result, error) {
	seed := strconv.FormatUint(s.rng.Uint64(), 10)
	kurl, err := s.localKinesis(ctx, "--enforce-limits", "--fault-rate", "0.12", "--fault-kinds", "entry,500,503,slow,reset,hang",
		"--fault-seed", seed, "--fault-slow-delay", "1s")
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-a"
	if err := createStream(ctx, kc, stream, 3); err != nil {
		return nil, err
	}
	px, err := s.proxy(kurl)
	if err != nil {
		return nil, err
	}
	if err := px.SetFaults(faultproxy.Faults{ResetRate: 0.03, ThrottleRate: 0.03, HangRate: 0.02}); err != nil {
		return nil, err
	}
	t := newTally()
	res := &result{failover: -1}
	f, err := s.newFleet(ctx, 2, stream, kurl, t, false)
	if err != nil {
		return nil, err
	}
	var prods []*producer
	// The ordered producer gets less: under these faults a --strict-ordering put fed a steady stream
	// keeps up with only ~25-45 records/s (one call per shard in flight, and each linger-sealed
	// aggregate waits for a call of its own: see README "Reliability").
	for i, o := range []producerOpts{{strict: true, rate: 25, keys: 20}, {rate: 300, keys: 20}, {noAggregate: true, rate: 300, keys: 20}} {
		pr, err := s.producer(i+1, stream, px.URL(), t, o)
		if err != nil {
			return nil, err
		}
		prods = append(prods, pr)
	}
	if err := sleep(ctx, s.dur(10*time.Second, 60*time.Second)); err != nil {
		return nil, err
	}
	s.endRun(ctx, res, t, prods, f)
	st := px.Stats()
	res.extra = append(res.extra, fmt.Sprintf("proxy_throttled=%d proxy_resets=%d proxy_hung=%d proxy_requests=%d", st.Throttled, st.Resets, st.Hung, st.Requests))
	return res, nil
}

// b: three workers, one of them killed -9 every 10 s (a new one started in its place), while the
// stream is split and merged; two producers with --strict-ordering.
func runFleetKills(ctx context.Context, s *scen) (*result, error) {
	kurl, err := s.localKinesis(ctx, "--enforce-limits")
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-b"
	if err := createStream(ctx, kc, stream, 4); err != nil {
		return nil, err
	}
	failover := s.dur(3*time.Second, 10*time.Second)
	take := failover / 3
	t := newTally()
	res := &result{}
	f, err := s.newFleet(ctx, 3, stream, kurl, t, false, "--failover", failover.String(), "--take-interval", take.String())
	if err != nil {
		return nil, err
	}
	var prods []*producer
	for i := range 2 {
		pr, err := s.producer(i+1, stream, kurl, t, producerOpts{strict: true, rate: 200, keys: 30})
		if err != nil {
			return nil, err
		}
		prods = append(prods, pr)
	}
	waitUntil(ctx, 20*time.Second, f.balanced)
	killEvery := s.dur(5*time.Second, 10*time.Second)
	reshardEvery := s.dur(4*time.Second, 7*time.Second)
	end := time.Now().Add(s.dur(25*time.Second, 70*time.Second))
	nextKill, nextReshard := time.Now().Add(killEvery), time.Now().Add(reshardEvery)
	kills, reshards := 0, 0
	var reshardErrs []string
	for time.Now().Before(end) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
		now := time.Now()
		if now.After(nextKill) {
			w := f.workers[s.rng.IntN(len(f.workers))]
			if err := f.killAndRestart(w); err != nil {
				return nil, err
			}
			kills++
			nextKill = now.Add(killEvery)
		}
		if now.After(nextReshard) {
			shards, _ := openShards(ctx, kc, stream)
			split := len(shards) <= 3 || (len(shards) < 6 && s.rng.IntN(2) == 0)
			if _, err := s.reshard(ctx, kc, stream, split); err != nil {
				reshardErrs = append(reshardErrs, err.Error())
			} else {
				reshards++
			}
			nextReshard = now.Add(reshardEvery)
		}
	}
	s.endRun(ctx, res, t, prods, f)
	bound := 2*failover + take + 3*time.Second
	longest, pendingFor, npending := f.fo.result(bound)
	res.failover = longest
	if longest > bound {
		res.breakf("a failover took %v > %v", longest.Round(100*time.Millisecond), bound)
	}
	if npending > 0 {
		res.breakf("%d leases of killed workers never taken over (waiting %v)", npending, pendingFor.Round(time.Second))
	}
	if res.c.orderBad > 0 {
		res.breakf("per-key-order: %d violations (%s)", res.c.orderBad, strings.Join(res.c.orderEx, " "))
	}
	shards, _ := openShards(ctx, kc, stream)
	res.extra = append(res.extra, fmt.Sprintf("kills=%d reshards=%d open_shards=%d takeovers=%d", kills, reshards, len(shards), f.fo.taken))
	if len(reshardErrs) > 0 {
		res.extra = append(res.extra, "reshard_errors="+strconv.Itoa(len(reshardErrs)))
	}
	return res, nil
}

// c: one worker cut off from DynamoDB (blackholed: its calls hang) for 3 × the failover time: it
// must stop printing records within the failover time (it can no longer renew), its shards move to
// the others, no checkpoint of its lands late (the held writes are delivered when the link heals:
// they must be refused), and when the link returns it takes leases again.
func runWorkerCutOff(ctx context.Context, s *scen) (*result, error) {
	kurl, err := s.localKinesis(ctx)
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-c"
	if err := createStream(ctx, kc, stream, 4); err != nil {
		return nil, err
	}
	failover := s.dur(4*time.Second, 10*time.Second)
	take := failover / 3
	t := newTally()
	res := &result{}
	f, err := s.newFleet(ctx, 3, stream, kurl, t, true, "--failover", failover.String(), "--take-interval", take.String())
	if err != nil {
		return nil, err
	}
	var prods []*producer
	for i := range 2 {
		pr, err := s.producer(i+1, stream, kurl, t, producerOpts{strict: true, rate: 150, keys: 30})
		if err != nil {
			return nil, err
		}
		prods = append(prods, pr)
	}
	if !waitUntil(ctx, 40*time.Second, f.balanced) {
		return nil, fmt.Errorf("the fleet did not balance in 40s: %v", f.mon.owned())
	}
	w := f.workers[0]
	f.mon.scan(ctx)
	held := f.mon.owned()[w.owner]
	cut := time.Now()
	if err := w.proxy.SetFaults(faultproxy.Faults{Partition: faultproxy.Blackhole}); err != nil {
		return nil, err
	}
	f.setDead(w.owner, true)
	f.fo.died(f.mon, w.owner, cut)
	slack := time.Second
	t.stopBy(w.name, cut.Add(failover+slack))
	if err := sleep(ctx, 3*failover); err != nil {
		return nil, err
	}
	late := t.counts().late[w.name]
	t.clearDeadline(w.name)
	heldDuringCut := f.mon.owned()[w.owner]
	if err := w.proxy.SetFaults(faultproxy.Faults{}); err != nil {
		return nil, err
	}
	f.setDead(w.owner, false)
	healed := time.Now()
	rejoined := waitUntil(ctx, 4*failover+10*time.Second, func() bool { return f.mon.owned()[w.owner] > 0 })
	rejoin := time.Since(healed)
	alive := w.p.running()
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	s.endRun(ctx, res, t, prods, f)
	bound := 2*failover + take + 3*time.Second
	longest, pendingFor, npending := f.fo.result(bound)
	res.failover = longest
	if late > 0 {
		res.breakf("the cut-off worker printed %d records more than %v after the cut (processing without a lease)", late, failover+slack)
	}
	if heldDuringCut > 0 {
		res.breakf("the cut-off worker still owned %d leases at the end of the cut", heldDuringCut)
	}
	if npending > 0 {
		res.breakf("%d leases of the cut-off worker not taken over (waiting %v)", npending, pendingFor.Round(time.Second))
	}
	if longest > bound {
		res.breakf("a take-over took %v > %v", longest.Round(100*time.Millisecond), bound)
	}
	if !alive {
		res.breakf("the cut-off worker exited (%v)", w.p.err)
	} else if !rejoined {
		res.breakf("the cut-off worker owned no lease %v after the link returned", rejoin.Round(time.Second))
	}
	if res.c.orderBad > 0 {
		res.breakf("per-key-order: %d violations (%s)", res.c.orderBad, strings.Join(res.c.orderEx, " "))
	}
	res.extra = append(res.extra, fmt.Sprintf("cut=%v leases_at_cut=%d late_records=%d rejoined_in=%v",
		(3*failover).Round(time.Second), held, late, rejoin.Round(100*time.Millisecond)))
	return res, nil
}

// d: every worker's DynamoDB link slow (every call +2 s) and throttled (20 % of the calls answered
// ProvisionedThroughputExceededException) for a minute, with the default failover time (10 s): no
// lease may change owner and no shard may go without a record for longer than the failover time.
func runDynamoSlow(ctx context.Context, s *scen) (*result, error) {
	kurl, err := s.localKinesis(ctx)
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-d"
	if err := createStream(ctx, kc, stream, 4); err != nil {
		return nil, err
	}
	const failover = 10 * time.Second
	t := newTally()
	res := &result{failover: -1}
	f, err := s.newFleet(ctx, 3, stream, kurl, t, true, "--failover", failover.String(), "--take-interval", "3s")
	if err != nil {
		return nil, err
	}
	var prods []*producer
	for i := range 2 {
		pr, err := s.producer(i+1, stream, kurl, t, producerOpts{strict: true, rate: 100, keys: 40})
		if err != nil {
			return nil, err
		}
		prods = append(prods, pr)
	}
	if !waitUntil(ctx, 40*time.Second, f.balanced) {
		return nil, fmt.Errorf("the fleet did not balance in 40s: %v", f.mon.owned())
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	window := s.dur(20*time.Second, 60*time.Second)
	expiries := f.mon.trackExpiries(failover)
	from := time.Now()
	t.measureGaps(from, time.Time{})
	for _, w := range f.workers {
		if err := w.proxy.SetFaults(faultproxy.Faults{Latency: 2 * time.Second, ThrottleRate: 0.2}); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, window); err != nil {
		return nil, err
	}
	t.endGaps(time.Now())
	var throttled int64
	for _, w := range f.workers {
		throttled += w.proxy.Stats().Throttled
		if err := w.proxy.SetFaults(faultproxy.Faults{}); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return nil, err
	}
	// A flap is a lease changing owner, or expiring (its counter unchanged for the failover time:
	// any worker may take it, and its owner stops processing it) even if its owner takes it back.
	flaps := f.mon.changesSince(from)
	exp, stall := expiries()
	s.endRun(ctx, res, t, prods, f)
	if len(flaps) > 0 || len(exp) > 0 {
		var l []string
		for _, c := range flaps {
			l = append(l, fmt.Sprintf("%s %s->%s at +%v", c.shard, c.from, c.to, c.at.Sub(from).Round(100*time.Millisecond)))
		}
		for _, c := range exp {
			l = append(l, fmt.Sprintf("%s of %s expired at +%v", c.shard, c.from, c.at.Sub(from).Round(100*time.Millisecond)))
		}
		res.breakf("lease-flaps: %d (%s)", len(flaps)+len(exp), strings.Join(l, ", "))
	}
	if res.c.longestGap > failover {
		res.breakf("stalled-shard: %s printed nothing for %v", res.c.gapShard, res.c.longestGap.Round(100*time.Millisecond))
	}
	if res.c.orderBad > 0 {
		res.breakf("per-key-order: %d violations (%s)", res.c.orderBad, strings.Join(res.c.orderEx, " "))
	}
	res.extra = append(res.extra, fmt.Sprintf("window=%v owner_changes=%d lease_expiries=%d longest_counter_stall=%v longest_shard_gap=%v throttled_calls=%d",
		window, len(flaps), len(exp), stall.Round(100*time.Millisecond), res.c.longestGap.Round(100*time.Millisecond), throttled))
	return res, nil
}

// f: the producer's link to Kinesis partitioned (blackholed) for 30 s, then healed, while it keeps
// being fed: nothing may be lost, order kept, and put's memory stays bounded (its buffer limits).
func runProducerPartition(ctx context.Context, s *scen) (*result, error) {
	kurl, err := s.localKinesis(ctx)
	if err != nil {
		return nil, err
	}
	kc := s.kinesisClient(kurl)
	stream := "chaos-f"
	if err := createStream(ctx, kc, stream, 2); err != nil {
		return nil, err
	}
	px, err := s.proxy(kurl)
	if err != nil {
		return nil, err
	}
	t := newTally()
	res := &result{failover: -1}
	f, err := s.newFleet(ctx, 2, stream, kurl, t, false)
	if err != nil {
		return nil, err
	}
	rate := 1000
	if !s.r.short {
		rate = 2000
	}
	pr, err := s.producer(1, stream, px.URL(), t, producerOpts{strict: true, rate: rate, keys: 50})
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return nil, err
	}
	partition := s.dur(10*time.Second, 30*time.Second)
	before := pr.p.peakKB.Load()
	if err := px.SetFaults(faultproxy.Faults{Partition: faultproxy.Blackhole}); err != nil {
		return nil, err
	}
	if err := sleep(ctx, partition); err != nil {
		return nil, err
	}
	during := vmHWM(pr.p.cmd.Process.Pid)
	if err := px.SetFaults(faultproxy.Faults{}); err != nil {
		return nil, err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return nil, err
	}
	s.endRun(ctx, res, t, []*producer{pr}, f)
	const boundKB = 256 << 10 // put's buffer is bounded (kpl.DefaultMaxBufferedBytes, 128 MiB) plus the runtime
	if during > boundKB {
		res.breakf("put's peak RSS reached %s during the partition (bound %s)", mb(during), mb(boundKB))
	}
	if res.c.orderBad > 0 {
		res.breakf("per-key-order: %d violations (%s)", res.c.orderBad, strings.Join(res.c.orderEx, " "))
	}
	res.extra = append(res.extra, fmt.Sprintf("partition=%v rate=%d/s put_rss_before=%s put_peak_rss_partition=%s",
		partition, rate, mb(before), mb(during)))
	return res, nil
}
