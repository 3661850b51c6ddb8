//go:build unix

package localstack_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// TestMultilangNodeClient runs `shardwise multilang` with the Node KCL client aws-kcl (pinned in
// package.json, installed by npm ci) against kinesis-mock and dynalite, end to end, with no JVM (the
// daemons' PATH holds node alone, JAVA_HOME is unset):
//
//  1. 10,000 records (5,000 in KPL aggregates, 5,000 plain) on a 2-shard stream are all received by the
//     Node record processors, which checkpoint every batch (the lease table holds each shard's last
//     sequence number);
//  2. a killed child (SIGKILL) is restarted with its batch re-delivered, and the other shard's child
//     keeps running (same process);
//  3. a split: the parent's child gets shardEnded, the parent lease reaches SHARD_END, the children's
//     records arrive after it;
//  4. a second daemon joins and the first gets SIGTERM: its children get shutdownRequested and
//     leaseLost (they log "Lease was lost"), it exits 0 and leaves no child behind, and the second
//     daemon receives every record put afterwards.
//
// The record processor is the upstream sample consumer of amazon-kinesis-client-nodejs
// (samples/basic_sample/consumer/sample_kcl_app.js), unmodified, when SHARDWISE_KCL_NODEJS_SAMPLES names
// a checkout of that repository (the npm package does not ship its samples, and Shardwise does not copy
// other projects' code); otherwise testdata/multilang/consumer.js, a consumer written here against the
// same client API that logs the same line shapes. Both run on the aws-kcl package from npm.
func TestMultilangNodeClient(t *testing.T) {
	kc := testenv.Kinesis(t)
	db := testenv.DynamoDB(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the multilang test needs Node.js (as the engines do)")
	}
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "aws-kcl", "index.js")); err != nil {
		t.Fatalf("aws-kcl is not installed (%v): run `npm ci` in localstack-test (engines.sh start does)", err)
	}
	bin, err := shardwiseBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 150*time.Second)
	stream := testenv.CreateStream(t, ctx, 2)
	app := testenv.UniqueName(t, "ml")
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	childDir, executable := multilangConsumer(t, dir, modules)
	props := func(worker string) string {
		p := filepath.Join(dir, worker+".properties")
		body := strings.Join([]string{
			"# shardwise multilang test: " + worker,
			"executableName = " + executable,
			"streamName = " + stream,
			"applicationName = " + app,
			"workerId = " + worker,
			"AwsCredentialsProvider = DefaultCredentialsProvider",
			"regionName = us-east-1",
			"kinesisEndpoint = " + testenv.Endpoint(t, "kinesis"),
			"dynamoDBEndpoint = " + testenv.Endpoint(t, "dynamodb"),
			"initialPositionInStream = TRIM_HORIZON",
			"idleTimeBetweenReadsInMillis = 200",
			"failoverTimeMillis = 3000",
			"shardSyncIntervalMillis = 1000",
			"parentShardPollIntervalMillis = 200",
			"taskBackoffTimeMillis = 200",
			"shutdownGraceMillis = 20000",
			"# keep the finished parent lease, so the test sees its SHARD_END (kcl.KeepFinishedLeases)",
			"cleanupLeasesUponShardCompletion = false",
			"",
		}, "\n")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// No JVM: the daemon and its children see a PATH holding node alone (executableName finds it there
	// by a PATH lookup, as the Java daemon's ProcessBuilder does) and no JAVA_HOME.
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(node, filepath.Join(binDir, "node")); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "JAVA_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+binDir, "NODE_LOG_DIR="+logDir, "NODE_PATH="+modules)
	start := func(worker string) *exec.Cmd {
		cmd := exec.Command(bin, "multilang", "--properties", props(worker))
		cmd.Dir, cmd.Env = childDir, env
		errf, err := os.Create(filepath.Join(dir, worker+".stderr"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = errf, errf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			errf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(errf.Name())
				t.Logf("daemon %s stderr (last 6000 bytes):\n%s", worker, tail(b, 6000))
			}
		})
		return cmd
	}
	mlog := &mlLog{path: filepath.Join(logDir, "application.log")}
	m, err := lease.NewManager(db, app, "test-reader")
	if err != nil {
		t.Fatal(err)
	}

	// 1. Every one of 10,000 records, aggregated and plain, received and checkpointed.
	t0 := time.Now()
	want := putMultilangRecords(t, ctx, kc, stream)
	t.Logf("put 10,000 records in %v", time.Since(t0))
	aStarted := time.Now()
	a := start("A")
	mlog.waitFor(t, 60*time.Second, "the 10,000 records", func(s mlState) bool { return s.missing(want) == 0 })
	t.Logf("10,000 records received %v after the daemon started", time.Since(aStarted))
	waitLeases(t, ctx, m, 20*time.Second, "each shard checkpointed at its last record", func(ls []lease.Lease) bool {
		s := mlog.read(t)
		for _, l := range ls {
			if l.Checkpoint != s.lastSeq[l.Key] || l.Owner != "A" {
				return false
			}
		}
		return len(ls) == 2
	})

	// 2. Kill one child: it is restarted; the other shard's child is not touched.
	shards := testenv.Shards(t, ctx, kc, stream)
	s := mlog.read(t)
	sh0, sh1 := aws.ToString(shards[0].ShardId), aws.ToString(shards[1].ShardId)
	pid0, pid1 := s.lastPID[sh0], s.lastPID[sh1]
	if err := syscall.Kill(pid0, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the child of %s (pid %d): %v", sh0, pid0, err)
	}
	killWant := putToShards(t, ctx, kc, stream, "kill", 25, shards[0], shards[1])
	mlog.waitFor(t, 30*time.Second, "the records put after the kill", func(s mlState) bool { return s.missing(killWant) == 0 })
	s = mlog.read(t)
	for data, sh := range killWant {
		pid := s.pidOf[data]
		switch {
		case sh == sh0 && pid == pid0:
			t.Fatalf("%s: record %s from the killed child %d", sh0, data, pid0)
		case sh == sh1 && pid != pid1:
			t.Fatalf("%s: record %s from pid %d: the other shard's child (%d) was restarted", sh1, data, pid, pid1)
		}
	}
	if got := s.pids[sh1]; len(got) != 1 {
		t.Fatalf("%s was processed by children %v, want one", sh1, got)
	}

	// 3. Split shard 1: shardEnded, SHARD_END, then the children.
	mid := new(big.Int)
	lo, _ := new(big.Int).SetString(aws.ToString(shards[1].HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(shards[1].HashKeyRange.EndingHashKey), 10)
	mid.Add(lo, hi).Rsh(mid, 1)
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: aws.String(sh1),
		NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	testenv.WaitStreamActive(t, ctx, kc, stream)
	var children []types.Shard
	for _, sh := range testenv.Shards(t, ctx, kc, stream) {
		if aws.ToString(sh.ParentShardId) == sh1 {
			children = append(children, sh)
		}
	}
	if len(children) != 2 {
		t.Fatalf("split of %s: %d children", sh1, len(children))
	}
	splitWant := putToShards(t, ctx, kc, stream, "split", 25, children...)
	mlog.waitFor(t, 30*time.Second, "the split children's records", func(s mlState) bool { return s.missing(splitWant) == 0 })
	s = mlog.read(t)
	endAt, ok := s.ended[sh1]
	if !ok {
		t.Fatalf("no shardEnded logged for %s", sh1)
	}
	for data := range splitWant {
		if s.lineOf[data] < endAt {
			t.Fatalf("child record %s logged before the parent's shardEnded", data)
		}
	}
	if l, err := m.Get(ctx, sh1); err != nil || !l.Finished() {
		t.Fatalf("parent lease %s: %+v, %v; want SHARD_END", sh1, l, err)
	}

	// 4. A second daemon joins; the first gets SIGTERM and hands its leases over.
	before := mlog.read(t)
	aPIDs := before.allPIDs()
	b := start("B")
	if err := a.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := waitExit(a, 30*time.Second); err != nil {
		t.Fatalf("daemon A after SIGTERM: %v", err)
	}
	t.Logf("daemon A exited %v after SIGTERM", time.Since(stopped))
	for _, pid := range aPIDs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("child %d of daemon A still exists after A exited (%v)", pid, err)
		}
	}
	s = mlog.read(t)
	lost := 0
	for _, pid := range aPIDs {
		lost += s.lostBy[pid]
	}
	if lost == 0 {
		t.Errorf("no child of daemon A logged a lost lease after SIGTERM (shutdownRequested, then leaseLost)")
	}
	open := []types.Shard{shards[0]}
	open = append(open, children...)
	waitLeases(t, ctx, m, 20*time.Second, "daemon B holding every open shard", func(ls []lease.Lease) bool {
		n := 0
		for _, l := range ls {
			if !l.Finished() && l.Owner == "B" {
				n++
			}
		}
		return n == len(open)
	})
	handWant := putToShards(t, ctx, kc, stream, "handoff", 25, open...)
	mlog.waitFor(t, 30*time.Second, "the records put after the hand-over", func(s mlState) bool { return s.missing(handWant) == 0 })
	s = mlog.read(t)
	for data := range handWant {
		if slices.Contains(aPIDs, s.pidOf[data]) {
			t.Fatalf("record %s processed by a child of the stopped daemon", data)
		}
	}
	if err := b.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(b, 30*time.Second); err != nil {
		t.Fatalf("daemon B after SIGTERM: %v", err)
	}
	t.Logf("whole scenario: %v", time.Since(t0))
}

// multilangConsumer prepares the record processor and returns the directory the daemon runs it from and
// its executableName.
func multilangConsumer(t *testing.T, dir, modules string) (string, string) {
	t.Helper()
	samples := os.Getenv("SHARDWISE_KCL_NODEJS_SAMPLES")
	if samples == "" {
		td, err := filepath.Abs(filepath.Join("testdata", "multilang"))
		if err != nil {
			t.Fatal(err)
		}
		t.Log("record processor: testdata/multilang/consumer.js (set SHARDWISE_KCL_NODEJS_SAMPLES to a checkout of amazon-kinesis-client-nodejs to run its unmodified sample)")
		return td, "node consumer.js"
	}
	// The sample requires the client as '../../..' (the repository root) and its logger as
	// '../../util/logger'; lay out a root whose index.js is the npm package's, so the sample runs
	// unmodified on aws-kcl 2.3.2 from npm (log4js comes from NODE_PATH).
	root := filepath.Join(dir, "kcl-nodejs")
	consumer := filepath.Join(root, "samples", "basic_sample", "consumer")
	for _, f := range []string{"samples/basic_sample/consumer/sample_kcl_app.js", "samples/util/logger.js"} {
		b, err := os.ReadFile(filepath.Join(samples, f))
		if err != nil {
			t.Fatalf("SHARDWISE_KCL_NODEJS_SAMPLES: %v", err)
		}
		dst := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(modules, "aws-kcl", "index.js"), filepath.Join(root, "index.js")); err != nil {
		t.Fatal(err)
	}
	t.Logf("record processor: the upstream sample %s, unmodified", filepath.Join(samples, "samples/basic_sample/consumer/sample_kcl_app.js"))
	return consumer, "node sample_kcl_app.js"
}

// putMultilangRecords puts 5,000 user records through kpl (aggregated) and 5,000 plain records, and
// returns the data of each.
func putMultilangRecords(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string) map[string]string {
	t.Helper()
	want := map[string]string{}
	p, err := kpl.New(kc, stream, kpl.Linger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var futs []*kpl.Future
	for i := range 5000 {
		data := fmt.Sprintf("agg-%05d", i)
		want[data] = ""
		futs = append(futs, p.PutAsync(ctx, kpl.Record{PartitionKey: "pk-" + strconv.Itoa(i), Data: []byte(data)}))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("kpl Flush: %v", err)
	}
	for i, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatalf("aggregated record %d: %v", i, err)
		}
	}
	p.Close()
	for b := 0; b < 10; b++ {
		var entries []types.PutRecordsRequestEntry
		for i := b * 500; i < (b+1)*500; i++ {
			data := fmt.Sprintf("plain-%05d", i)
			want[data] = ""
			entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(data), PartitionKey: aws.String("plain-" + strconv.Itoa(i))})
		}
		putEntries(t, ctx, kc, stream, entries)
	}
	return want
}

// putToShards puts n records to each shard (explicit hash key = the shard's starting key) and returns
// data -> shard ID.
func putToShards(t *testing.T, ctx context.Context, kc *kinesis.Client, stream, prefix string, n int, shards ...types.Shard) map[string]string {
	t.Helper()
	want := map[string]string{}
	var entries []types.PutRecordsRequestEntry
	for _, sh := range shards {
		for i := range n {
			data := fmt.Sprintf("%s-%s-%03d", prefix, aws.ToString(sh.ShardId), i)
			want[data] = aws.ToString(sh.ShardId)
			entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(data), PartitionKey: aws.String(data),
				ExplicitHashKey: sh.HashKeyRange.StartingHashKey})
		}
	}
	putEntries(t, ctx, kc, stream, entries)
	return want
}

func putEntries(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry) {
	t.Helper()
	for attempt := 0; len(entries) > 0; attempt++ {
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		var failed []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, entries[i])
			}
		}
		if len(failed) > 0 && attempt > 5 {
			t.Fatalf("PutRecords: %d entries still failing", len(failed))
		}
		entries = failed
	}
}

// mlLog reads the record processors' log (the upstream sample's line shapes).
type mlLog struct{ path string }

// mlState is what the log says so far.
type mlState struct {
	seen    map[string]bool   // record data
	pidOf   map[string]int    // data -> pid of the last child that logged it
	lineOf  map[string]int    // data -> line of its first occurrence
	lastSeq map[string]string // shard -> the largest sequence number logged
	lastPID map[string]int    // shard -> pid of the child that logged its last record
	pids    map[string][]int  // shard -> every child pid that logged its records
	ended   map[string]int    // shard -> line of "has ended"
	lostBy  map[int]int       // pid -> "Lease was lost" lines
}

var (
	mlRecordRe = regexp.MustCompile(`\(PID: (\d+)\) INFO recordProcessor - ShardID: (\S+), Record: (.*), SeqenceNumber: (\d+), PartitionKey:`)
	mlEndedRe  = regexp.MustCompile(`\(PID: (\d+)\) INFO recordProcessor - ShardId: (\S+) has ended`)
	mlLostRe   = regexp.MustCompile(`\(PID: (\d+)\) INFO recordProcessor - Lease was lost for ShardId: (\S+)`)
)

func (l *mlLog) read(t *testing.T) mlState {
	t.Helper()
	s := mlState{seen: map[string]bool{}, pidOf: map[string]int{}, lineOf: map[string]int{}, lastSeq: map[string]string{},
		lastPID: map[string]int{}, pids: map[string][]int{}, ended: map[string]int{}, lostBy: map[int]int{}}
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if m := mlRecordRe.FindStringSubmatch(line); m != nil {
			pid, _ := strconv.Atoi(m[1])
			shard, data, seq := m[2], m[3], m[4]
			if !s.seen[data] {
				s.lineOf[data] = n
			}
			s.seen[data], s.pidOf[data], s.lastPID[shard] = true, pid, pid
			if cmpSeq(seq, s.lastSeq[shard]) > 0 {
				s.lastSeq[shard] = seq
			}
			if !slices.Contains(s.pids[shard], pid) {
				s.pids[shard] = append(s.pids[shard], pid)
			}
		} else if m := mlEndedRe.FindStringSubmatch(line); m != nil {
			if _, ok := s.ended[m[2]]; !ok {
				s.ended[m[2]] = n
			}
		} else if m := mlLostRe.FindStringSubmatch(line); m != nil {
			pid, _ := strconv.Atoi(m[1])
			s.lostBy[pid]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s mlState) missing(want map[string]string) int {
	n := 0
	for d := range want {
		if !s.seen[d] {
			n++
		}
	}
	return n
}

func (s mlState) allPIDs() []int {
	var out []int
	for _, ps := range s.pids {
		for _, p := range ps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func cmpSeq(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func (l *mlLog) waitFor(t *testing.T, limit time.Duration, what string, cond func(mlState) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := l.read(t)
		if cond(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (%d distinct records logged)", limit, what, len(s.seen))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitLeases(t *testing.T, ctx context.Context, m *lease.Manager, limit time.Duration, what string, cond func([]lease.Lease) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ls, err := m.List(ctx)
		if err == nil && cond(ls) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: leases %+v (%v)", limit, what, ls, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitExit waits for cmd to exit and returns an error unless it exited 0 within limit.
func waitExit(cmd *exec.Cmd, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %v", limit)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
