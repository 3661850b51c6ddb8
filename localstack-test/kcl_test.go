//go:build unix

package localstack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/lease"
)

// The kcl fleet scenario: `shardwise consume` processes (separate processes, as on separate hosts)
// sharing one lease table on dynalite, over an 8-shard stream on kinesistest (in-process, real wire
// protocol) or kinesis-mock. A hard kill, a join, a split and a merge, and a graceful shutdown happen
// while a producer writes plain and KPL-aggregated records; every record must be consumed (0 lost),
// each partition key's records in order, and duplicated only within the killed worker's un-checkpointed
// window (balance steals are graceful handoffs: the owner checkpoints its batch before the lease moves).
//
// Timing bounds are the issue's, plus a documented slack for real processes: the lease table is polled
// every 50 ms and each poll is a Scan (tens of ms on dynalite), a starting process needs its start-up
// (binary start, EnsureTable, first shard sync) before its first take round, and a Scan or write of the
// workers themselves takes tens of ms. kclSlack covers these; a bound missed by more fails the test.

const (
	kclFailover      = 3 * time.Second
	kclRenewInterval = kclFailover / 3      // the lease default
	kclTakeInterval  = kclRenewInterval / 2 // a dead worker's shards move within failover + one renew interval
	kclSlack         = 500 * time.Millisecond
	kclStartSlack    = time.Second // process start before its first take round
)

var shardwiseBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "shardwise-kcl-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shardwise")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/shardwise/shardwise/cmd/shardwise").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// kclCollector gathers what the consume processes print.
type kclCollector struct {
	mu       sync.Mutex
	seen     map[string]int      // data -> times printed (all processes)
	by       map[string][]string // data -> processes that printed it
	firstSeq map[string][]int    // partition key -> record numbers in first-seen order
	printed  map[string][]kclPos // "proc shard" -> positions printed
}

type kclPos struct {
	seq *big.Int
	sub int
}

func newKCLCollector() *kclCollector {
	return &kclCollector{seen: map[string]int{}, by: map[string][]string{}, firstSeq: map[string][]int{},
		printed: map[string][]kclPos{}}
}

// uncheckpointed counts the records proc printed on shard after the checkpoint (seq, sub).
func (c *kclCollector) uncheckpointed(proc, shard, seq string, sub int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := new(big.Int).SetString(seq, 10)
	n := 0
	for _, p := range c.printed[proc+" "+shard] {
		if !ok { // a sentinel (TRIM_HORIZON): nothing checkpointed
			n++
			continue
		}
		if d := p.seq.Cmp(cp); d > 0 || d == 0 && int64(p.sub) > sub {
			n++
		}
	}
	return n
}

func (c *kclCollector) add(proc string, line []byte) error {
	var r struct {
		ShardID, PartitionKey string
		SequenceNumber        string
		SubSequenceNumber     int
		Data                  []byte // base64 in the JSON line
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("%s printed %q: %w", proc, line, err)
	}
	d := string(r.Data)
	seq, ok := new(big.Int).SetString(r.SequenceNumber, 10)
	if !ok {
		return fmt.Errorf("%s printed sequence number %q", proc, r.SequenceNumber)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printed[proc+" "+r.ShardID] = append(c.printed[proc+" "+r.ShardID], kclPos{seq: seq, sub: r.SubSequenceNumber})
	if c.seen[d] == 0 {
		key, n, _ := strings.Cut(d, ":")
		i, _ := strconv.Atoi(n)
		c.firstSeq[key] = append(c.firstSeq[key], i)
	}
	c.seen[d]++
	c.by[d] = append(c.by[d], proc)
	return nil
}

func (c *kclCollector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// kclProc is one `shardwise consume` process.
type kclProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when stdout is drained and the process exited
	err  error
}

func startConsume(t *testing.T, env []string, stream, app, name string, c *kclCollector) *kclProc {
	t.Helper()
	bin, err := shardwiseBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "consume", stream, "--app", app, "--owner", name, "--from", "trim-horizon",
		"--failover", kclFailover.String(), "--take-interval", kclTakeInterval.String(),
		"--shard-sync-interval", "2s", "--poll-interval", "200ms", "--log-level", "info")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &kclProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if err := c.add(name, sc.Bytes()); err != nil && p.err == nil {
				p.err = err
			}
		}
		if err := cmd.Wait(); err != nil && p.err == nil {
			p.err = err
		}
		logf.Close()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("%s stderr (last lines):\n%s", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	return p
}

func (p *kclProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit after %v", p.name, sig)
	}
	if sig == syscall.SIGTERM && p.err != nil {
		t.Errorf("%s: %v", p.name, p.err)
	}
}

// kclProducer writes records "<key>:<n>" for 16 keys, n increasing per key: plain records, and every
// third round KPL aggregates of three user records of one key.
type kclProducer struct {
	kc     *kinesis.Client
	stream string
	mu     sync.Mutex
	next   map[string]int
	errs   int
}

func (p *kclProducer) round(ctx context.Context, round int) {
	var entries []types.PutRecordsRequestEntry
	p.mu.Lock()
	for k := range 16 {
		key := fmt.Sprintf("k%02d", k)
		if round%3 == 2 {
			a := aggregation.NewAggregator(aggregation.DefaultMaxSize)
			for range 3 {
				_ = a.Add(aggregation.Record{PartitionKey: key, Data: fmt.Appendf(nil, "%s:%d", key, p.next[key])})
				p.next[key]++
			}
			rec, _, _ := a.Flush()
			e := types.PutRecordsRequestEntry{PartitionKey: aws.String(rec.PartitionKey), Data: rec.Data}
			if rec.ExplicitHashKey != "" {
				e.ExplicitHashKey = aws.String(rec.ExplicitHashKey)
			}
			entries = append(entries, e)
			continue
		}
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s:%d", key, p.next[key])})
		p.next[key]++
	}
	p.mu.Unlock()
	// Retry failed entries in order, one call at a time, so each key's records keep their order.
	for len(entries) > 0 && ctx.Err() == nil {
		out, err := p.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		if err != nil {
			p.mu.Lock()
			p.errs++
			p.mu.Unlock()
			time.Sleep(100 * time.Millisecond) // an engine test has no fake clock; pacing only
			continue
		}
		var retry []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, entries[i])
			}
		}
		entries = retry
	}
}

func (p *kclProducer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.next {
		n += v
	}
	return n
}

// run produces a round every 100 ms until stop is closed (the round in progress completes, so every
// record counted as produced was written) or ctx ends.
func (p *kclProducer) run(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for round := 0; ; round++ {
		p.round(ctx, round)
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// owners returns the active (unfinished) leases per owner.
func kclOwners(t *testing.T, ctx context.Context, m *lease.Manager) map[string][]string {
	t.Helper()
	ls, err := m.List(ctx)
	if err != nil {
		return nil // the table appears once the first process created it
	}
	out := map[string][]string{}
	for _, l := range ls {
		if !l.Finished() {
			out[l.Owner] = append(out[l.Owner], l.Key)
		}
	}
	return out
}

// kclBalanced reports whether exactly the named workers own every active lease, within one of each other.
func kclBalanced(owners map[string][]string, names ...string) bool {
	lo, hi := 1<<30, 0
	total := 0
	for _, ls := range owners {
		total += len(ls)
	}
	sum := 0
	for _, n := range names {
		c := len(owners[n])
		sum += c
		lo, hi = min(lo, c), max(hi, c)
	}
	return total > 0 && sum == total && hi-lo <= 1
}

func TestKCLFleetOnKinesistest(t *testing.T) {
	dc := testenv.DynamoDB(t) // skips without AWS_ENDPOINT_URL_DYNAMODB
	srv, kc := localKinesis(t)
	ctx := testenv.Context(t, 3*time.Minute)
	stream := testenv.UniqueName(t, "kcl")
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(8)}); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_KINESIS="+srv.URL())
	runKCLFleet(t, ctx, kc, dc, env, stream)
}

func TestKCLFleetOnKinesisMock(t *testing.T) {
	dc := testenv.DynamoDB(t)
	kc := testenv.Kinesis(t)
	ctx := testenv.Context(t, 3*time.Minute)
	stream := testenv.CreateStream(t, ctx, 8)
	runKCLFleet(t, ctx, kc, dc, os.Environ(), stream)
}

func runKCLFleet(t *testing.T, ctx context.Context, kc *kinesis.Client, dc *dynamodb.Client, env []string, stream string) {
	app := testenv.UniqueName(t, "app")
	testenv.DeleteTableOnCleanup(t, dc, app)
	reader, err := lease.NewManager(dc, app, "test-reader")
	if err != nil {
		t.Fatal(err)
	}
	col := newKCLCollector()
	p1 := startConsume(t, env, stream, app, "p1", col)
	p2 := startConsume(t, env, stream, app, "p2", col)
	p3 := startConsume(t, env, stream, app, "p3", col)
	waitFor(t, ctx, "3 workers balanced over 8 shards", func() bool { return kclBalanced(kclOwners(t, ctx, reader), "p1", "p2", "p3") })

	prod := &kclProducer{kc: kc, stream: stream, next: map[string]int{}}
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopProducer := func() { stopOnce.Do(func() { close(stop) }) }
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { defer pwg.Done(); prod.run(ctx, stop) }()
	defer func() { stopProducer(); pwg.Wait() }()
	waitFor(t, ctx, "records flowing", func() bool { return col.distinct() > 100 })

	// Hard kill: p3's shards resume on p1/p2 within failover + one renew interval (a dead worker's
	// leases are taken by a scan at most failover + 2 × take interval after its last write).
	killed := time.Now()
	p3.stop(t, syscall.SIGKILL) // returns once p3's output is drained
	window := 0                 // records p3 printed after its last checkpoint: the only duplicates allowed
	ls, err := reader.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Owner == "p3" { // not taken yet (the failover time has not passed): p3's last checkpoint
			window += col.uncheckpointed("p3", l.Key, l.Checkpoint, l.CheckpointSubSequence)
		}
	}
	waitFor(t, ctx, "p3's shards taken over", func() bool { return kclBalanced(kclOwners(t, ctx, reader), "p1", "p2") })
	failover := time.Since(killed)
	t.Logf("failover after SIGKILL: %v (bound failover %v + renew interval %v, slack %v); p3's un-checkpointed window: %d records",
		failover.Round(time.Millisecond), kclFailover, kclRenewInterval, kclSlack, window)
	if limit := kclFailover + kclRenewInterval + kclSlack; failover > limit {
		t.Errorf("failover took %v, want <= %v", failover, limit)
	}

	// Join: p4 gets its fair share within two take cycles (its first round runs at start; steals are
	// graceful handoffs completed by the owners after their batch in progress).
	p4 := startConsume(t, env, stream, app, "p4", col)
	joined := time.Now()
	waitFor(t, ctx, "rebalance after p4 joined", func() bool { return kclBalanced(kclOwners(t, ctx, reader), "p1", "p2", "p4") })
	rebalance := time.Since(joined)
	t.Logf("rebalance after join: %v (bound two take cycles %v, slack %v for process start + %v)",
		rebalance.Round(time.Millisecond), 2*kclTakeInterval, kclStartSlack, kclSlack)
	if limit := 2*kclTakeInterval + kclStartSlack + kclSlack; rebalance > limit {
		t.Errorf("rebalance took %v, want <= %v", rebalance, limit)
	}

	// Split shard 0 and merge shards 6 and 7 mid-run.
	kclReshard(t, ctx, kc, stream)
	parents := []string{"shardId-000000000000", "shardId-000000000006", "shardId-000000000007"}
	waitFor(t, ctx, "parents finished and children consumed", func() bool {
		ls, err := reader.List(ctx)
		if err != nil {
			return false
		}
		progressed := 0
		for _, l := range ls {
			if slices.Contains(parents, l.Key) && !l.Finished() {
				return false // a parent still running (finished parents may already be deleted)
			}
			if len(l.ParentShardIDs) > 0 && slices.ContainsFunc(l.ParentShardIDs, func(p string) bool { return slices.Contains(parents, p) }) &&
				l.Checkpoint != lease.TrimHorizon {
				progressed++
			}
		}
		return progressed >= 3
	})

	// Graceful shutdown: p4's leases are taken within one take cycle (p4 released them before exiting).
	p4.stop(t, syscall.SIGTERM)
	left := time.Now()
	waitFor(t, ctx, "p4's shards taken", func() bool {
		o := kclOwners(t, ctx, reader)
		return len(o["p4"]) == 0 && len(o[""]) == 0
	})
	handoff := time.Since(left)
	t.Logf("leases taken after SIGTERM: %v (bound one take cycle %v, slack %v)", handoff.Round(time.Millisecond), kclTakeInterval, kclSlack)
	if limit := kclTakeInterval + kclSlack; handoff > limit {
		t.Errorf("taking p4's leases took %v, want <= %v", handoff, limit)
		kclDumpLeases(t, ctx, reader)
	}
	// Finished parent leases count in the balance until shard sync deletes them, so the active ones may
	// need another round of (graceful) steals to even out.
	waitFor(t, ctx, "p1 and p2 balanced", func() bool { return kclBalanced(kclOwners(t, ctx, reader), "p1", "p2") })
	t.Logf("p1 and p2 balanced %v after SIGTERM", time.Since(left).Round(time.Millisecond))

	time.Sleep(time.Second) // a last second of records after the hand-off (wall clock: engine test)
	stopProducer()
	pwg.Wait()
	want := prod.produced()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	for col.distinct() < want && wctx.Err() == nil {
		time.Sleep(50 * time.Millisecond) // wall clock: engine test
	}
	if col.distinct() < want {
		col.mu.Lock()
		missing := map[string][]int{}
		for key, n := range prod.next {
			for i := range n {
				if col.seen[fmt.Sprintf("%s:%d", key, i)] == 0 {
					missing[key] = append(missing[key], i)
				}
			}
		}
		col.mu.Unlock()
		kclDumpLeases(t, ctx, reader)
		t.Fatalf("%d of %d records not consumed after 30 s; missing per key: %v", want-col.distinct(), want, missing)
	}
	p1.stop(t, syscall.SIGTERM)
	p2.stop(t, syscall.SIGTERM)

	col.mu.Lock()
	defer col.mu.Unlock()
	lost := 0
	for key, n := range prod.next {
		for i := range n {
			if col.seen[fmt.Sprintf("%s:%d", key, i)] == 0 {
				lost++
			}
		}
	}
	dups, dupsNotP3 := 0, 0
	for d, n := range col.seen {
		if n > 1 {
			dups += n - 1
			if !slices.Contains(col.by[d], "p3") {
				dupsNotP3 += n - 1
			}
		}
	}
	for key, seq := range col.firstSeq {
		if !slices.IsSorted(seq) {
			t.Errorf("key %s consumed out of order: %v", key, seq)
		}
	}
	t.Logf("produced %d user records, consumed %d distinct, %d duplicates (%d not involving the killed p3); %d PutRecords errors",
		want, len(col.seen), dups, dupsNotP3, prod.errs)
	if lost != 0 {
		t.Errorf("%d records lost", lost)
	}
	if dupsNotP3 != 0 {
		t.Errorf("%d duplicates not involving the killed p3, want 0", dupsNotP3)
	}
	if dups > window {
		t.Errorf("%d duplicates, want <= p3's un-checkpointed window of %d records", dups, window)
	}
}

// kclReshard splits shard 0 at its midpoint and merges shards 6 and 7, waiting for ACTIVE after each.
func kclReshard(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string) {
	t.Helper()
	shards := testenv.Shards(t, ctx, kc, stream)
	var s0 types.Shard
	for _, s := range shards {
		if aws.ToString(s.ShardId) == "shardId-000000000000" {
			s0 = s
		}
	}
	lo, _ := new(big.Int).SetString(aws.ToString(s0.HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(s0.HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	testenv.WaitStreamActive(t, ctx, kc, stream)
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: aws.String("shardId-000000000006"), AdjacentShardToMerge: aws.String("shardId-000000000007")}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	testenv.WaitStreamActive(t, ctx, kc, stream)
}

func kclDumpLeases(t *testing.T, ctx context.Context, reader *lease.Manager) {
	t.Helper()
	ls, _ := reader.List(ctx)
	for _, l := range ls {
		t.Logf("lease %s owner %q pending %q counter %d checkpoint %s/%d parents %v children %v", l.Key, l.Owner, l.PendingOwner,
			l.Counter, l.Checkpoint, l.CheckpointSubSequence, l.ParentShardIDs, l.ChildShardIDs)
	}
}
