package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// demoConfig holds the flags of `shardwise demo`.
type demoConfig struct {
	kinesis   string // "embedded" (an in-process kinesistest server) or "configured" (the SDK chain)
	agent     string // path of shardwise-agent ("" = next to this executable, else on PATH)
	shards    int
	workers   int
	users     int
	rate      int // kpl records/s
	logRate   int // click-stream lines/s written for the agent
	rotate    int // lines per log file before it is rotated
	duration  time.Duration
	splitAt   time.Duration
	killAt    time.Duration
	failover  time.Duration
	drain     time.Duration // how long to wait for the last records once producing stopped
	summary   time.Duration
	keep      bool // keep the working directory (logs, agent.json)
	short     bool
	dynamoURL string // for messages
}

// demoShort and demoFull are the presets of --short and the default run.
var (
	demoFull = demoConfig{shards: 4, workers: 3, users: 50, rate: 300, logRate: 100, rotate: 1500,
		duration: 70 * time.Second, splitAt: 20 * time.Second, killAt: 40 * time.Second,
		failover: 5 * time.Second, drain: 60 * time.Second, summary: 5 * time.Second}
	demoShort = demoConfig{shards: 4, workers: 3, users: 20, rate: 150, logRate: 60, rotate: 250,
		duration: 12 * time.Second, splitAt: 4 * time.Second, killAt: 7 * time.Second,
		failover: 3 * time.Second, drain: 40 * time.Second, summary: 3 * time.Second}
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	short := slices.Contains(args, "--short") || slices.Contains(args, "-short")
	c := demoFull
	if short {
		c = demoShort
	}
	fs.BoolVar(&c.short, "short", false, "the short run of make test: 12 s of traffic instead of 70 s")
	fs.StringVar(&c.kinesis, "kinesis", "embedded", "embedded: an in-process kinesistest server; configured: the SDK chain's endpoint (AWS_ENDPOINT_URL_KINESIS)")
	fs.StringVar(&c.agent, "agent", "", "shardwise-agent binary (default: next to this executable, else on PATH)")
	fs.IntVar(&c.shards, "shards", c.shards, "number of shards of the demo stream")
	fs.IntVar(&c.workers, "workers", c.workers, "consume worker processes")
	fs.IntVar(&c.users, "keys", c.users, usageKeys)
	deprecatedAlias(fs, "users", "keys", stderr)
	fs.IntVar(&c.rate, "rate", c.rate, "kpl records per second")
	fs.IntVar(&c.logRate, "log-rate", c.logRate, "click-stream log lines per second (sent by the agent)")
	fs.IntVar(&c.rotate, "rotate", c.rotate, "rotate the log every N lines (rename, then a new file)")
	fs.DurationVar(&c.duration, "duration", c.duration, "how long records are produced")
	fs.DurationVar(&c.splitAt, "split-at", c.splitAt, "when a shard is split (0: never)")
	fs.DurationVar(&c.killAt, "kill-at", c.killAt, "when a worker is killed (0: never)")
	fs.DurationVar(&c.failover, "failover", c.failover, usageFailover)
	fs.DurationVar(&c.drain, "drain-timeout", c.drain, usageDrainTimeout)
	deprecatedAlias(fs, "drain", "drain-timeout", stderr)
	fs.DurationVar(&c.summary, "stats-interval", c.summary, usageStatsEvery)
	deprecatedAlias(fs, "summary-interval", "stats-interval", stderr)
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (worker and agent logs, agent.json)")
	settings := defineAWSFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errCLIUsage
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: demo takes no arguments, got %q", errCLIUsage, fs.Args())
	}
	if c.kinesis != "embedded" && c.kinesis != "configured" {
		return fmt.Errorf("%w: --kinesis must be embedded or configured, not %q", errCLIUsage, c.kinesis)
	}
	if c.shards < 1 || c.workers < 1 || c.users < 1 || c.rate < 0 || c.logRate < 0 || c.rate+c.logRate == 0 ||
		c.rotate < 1 || c.duration <= 0 || c.failover <= 0 || c.summary <= 0 {
		return fmt.Errorf("%w: --shards, --workers, --keys, --rotate, --duration, --failover and --stats-interval must be positive, and --rate or --log-rate too", errCLIUsage)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this executable to start the consume workers: %w", err)
	}
	agentPath, err := findAgent(c.agent, self)
	if err != nil {
		return err
	}
	cfg, err := loadAWSConfig(ctx, *settings)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := checkDemoDynamoDB(ctx, db, &c); err != nil {
		return err
	}
	d := &demoRun{c: c, aws: *settings, self: self, agentPath: agentPath, db: db, out: stdout, tally: newDemoTally()}
	if c.kinesis == "embedded" {
		srv, err := kinesistest.NewServer(kinesistest.EnforceLimits(),
			kinesistest.WithLogger(discardLogger()))
		if err != nil {
			return err
		}
		defer srv.Close()
		d.kinesisURL = srv.URL()
		d.kc = srv.KinesisClient()
	} else {
		d.kc = kinesis.NewFromConfig(cfg)
	}
	return d.run(ctx)
}

// findAgent returns the shardwise-agent binary: flag, else beside self, else on PATH.
func findAgent(flagPath, self string) (string, error) {
	if flagPath != "" {
		if _, err := os.Stat(flagPath); err != nil {
			return "", fmt.Errorf("--agent: %w", err)
		}
		return flagPath, nil
	}
	beside := filepath.Join(filepath.Dir(self), "shardwise-agent")
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	if p, err := exec.LookPath("shardwise-agent"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("shardwise-agent not found beside %s nor on PATH: run make demo, or build both (go build -o DIR/ ./cmd/shardwise ./cmd/shardwise-agent) and run DIR/shardwise demo", self)
}

// checkDemoDynamoDB makes sure the lease table has a local DynamoDB to live in, in one line if not.
func checkDemoDynamoDB(ctx context.Context, db *dynamodb.Client, c *demoConfig) error {
	const start = `start it with: localstack-test/engines.sh start && eval "$(localstack-test/engines.sh env)" (or run make demo)`
	u := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if u == "" {
		u = os.Getenv("AWS_ENDPOINT_URL")
	}
	if u == "" {
		return errors.New("the demo keeps its leases in the local DynamoDB and AWS_ENDPOINT_URL_DYNAMODB is not set: " + start)
	}
	if pu, err := url.Parse(u); err != nil || !isLoopbackHost(pu.Hostname()) {
		return fmt.Errorf("AWS_ENDPOINT_URL_DYNAMODB=%s is not a loopback address: the demo runs against the local DynamoDB only", u)
	}
	c.dynamoURL = u
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := db.ListTables(cctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }); err != nil {
		return fmt.Errorf("the local DynamoDB at %s does not answer; %s", u, start)
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}

// errDemoInterrupted ends a demo stopped by SIGINT or SIGTERM; its processes are stopped and its
// stream and lease table deleted all the same.
var errDemoInterrupted = errors.New("demo interrupted: workers and agent stopped, stream and lease table deleted")

// demoRun is one run of the demo.
type demoRun struct {
	c          demoConfig
	aws        awsSettings // --region, --profile: the workers get them too
	self       string
	agentPath  string
	kinesisURL string // the embedded server's, "" for configured
	kc         *kinesis.Client
	db         *dynamodb.Client
	out        io.Writer
	outMu      sync.Mutex // say runs on the main loop and the split's goroutine
	tally      *demoTally
	leases     *lease.Manager // read-only view of the workers' lease table, for the summary
	dir        string
	stream     string
	start      time.Time
}

func (d *demoRun) say(format string, a ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, format+"\n", a...)
}

func (d *demoRun) run(ctx context.Context) (err error) {
	c := d.c
	var suffix [4]byte
	rand.Read(suffix[:])
	d.stream = "shardwise-demo-" + hex.EncodeToString(suffix[:])
	app := d.stream
	if d.dir, err = os.MkdirTemp("", "shardwise-demo-"); err != nil {
		return err
	}
	defer func() {
		if c.keep || (err != nil && !errors.Is(err, errDemoInterrupted)) { // a failure keeps the logs
			d.say("logs and configuration kept in %s", d.dir)
		} else {
			os.RemoveAll(d.dir)
		}
	}()
	where := "an in-process Kinesis (kinesistest, " + d.kinesisURL + ")"
	if d.kinesisURL == "" {
		where = "the configured Kinesis endpoint"
	}
	d.say("shardwise demo: %s and the local DynamoDB (%s)", where, c.dynamoURL)
	d.start = time.Now()

	// 1. The stream and the lease table.
	if err := streamCommand(ctx, d.kc, []string{"create", d.stream, "--shards", strconv.Itoa(c.shards)}, io.Discard, io.Discard); err != nil {
		return err
	}
	defer d.cleanupStream(ctx, &err)
	m, err := lease.NewManager(d.db, app, "shardwise-demo")
	if err != nil {
		return err
	}
	if err := m.EnsureTable(ctx); err != nil {
		return fmt.Errorf("creating the lease table: %w", err)
	}
	defer d.cleanupTable(ctx, app, &err)
	d.leases = m
	d.say("%s stream %s created with %d shards, lease table %s", d.stamp(), d.stream, c.shards, app)

	// 2. The consume workers, separate processes sharing the leases.
	env := os.Environ()
	if d.kinesisURL != "" {
		env = append(env, "AWS_ENDPOINT_URL_KINESIS="+d.kinesisURL)
	}
	workers := make([]*demoProc, c.workers)
	alive := map[*demoProc]bool{}
	defer func() {
		var live []*demoProc
		for p, ok := range alive {
			if ok {
				live = append(live, p)
			}
		}
		_ = stopAll(live, 5*time.Second) // an early return (Ctrl-C, a failure): nothing outlives the demo
	}()
	for i := range workers {
		name := "w" + strconv.Itoa(i+1)
		args := []string{"consume", d.stream, "--app", app, "--owner", name, "--format", "jsonl",
			"--poll-interval", "200ms", "--failover", c.failover.String(), "--take-interval", (c.failover / 3).String(),
			"--shard-sync-interval", "1s", "--grace", "20s", "--log-level", "warn"}
		args = append(args, d.aws.args()...)
		p, err := startDemoProc(name, d.self, args, env, d.dir, func(line []byte) { d.tally.consumeLine(name, line, time.Now()) })
		if err != nil {
			return err
		}
		workers[i], alive[p] = p, true
	}
	d.say("%s %d `shardwise consume` workers started (w1..w%d, lease failover %v)", d.stamp(), c.workers, c.workers, c.failover)

	// 3. The agent tailing a rotating click-stream log, and the kpl producer.
	logPath := filepath.Join(d.dir, "clicks.log")
	lw, err := newDemoLog(logPath, c.rotate)
	if err != nil {
		return err
	}
	defer lw.close()
	agentCfg := map[string]any{
		"checkpointFile":         filepath.Join(d.dir, "agent-checkpoints.json"),
		"cloudwatch.emitMetrics": false,
		"flows": []map[string]any{{
			"filePattern": logPath + "*", "kinesisStream": d.stream,
			"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 100,
		}},
	}
	if d.kinesisURL != "" {
		agentCfg["kinesis.endpoint"] = d.kinesisURL
	}
	cfgPath := filepath.Join(d.dir, "agent.json")
	cfgJSON, _ := json.MarshalIndent(agentCfg, "", "  ")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o644); err != nil {
		return err
	}
	agentProc, err := startDemoProc("agent", d.agentPath, []string{"-c", cfgPath, "-L", "WARN"}, os.Environ(), d.dir, nil)
	if err != nil {
		return err
	}
	alive[agentProc] = true

	prod, err := kpl.New(d.kc, d.stream, kpl.StrictOrdering(), kpl.Linger(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer prod.Close()
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	// Room for every record the run puts, so the producer never waits for the collector (which
	// waits for futures in put order, slowly on a slow endpoint) and stops on time.
	puts := make(chan demoPut, int(float64(c.rate)*c.duration.Seconds()*1.2)+1000)
	var collector sync.WaitGroup
	collector.Add(1)
	go func() { defer collector.Done(); d.collectPuts(puts) }()
	defer func() {
		if puts != nil {
			prod.Close()
			close(puts)
			collector.Wait()
		}
	}() // prod.Close (deferred earlier, run later) resolves every future
	var gens sync.WaitGroup
	gens.Add(2)
	go func() { defer gens.Done(); d.produceKPL(genCtx, ctx, prod, puts) }()
	var logErr error
	go func() { defer gens.Done(); logErr = d.writeLog(genCtx, lw) }()
	d.say("%s shardwise-agent tails %s* (rotated every %d lines, %d lines/s); kpl producer puts %d records/s over %d users (strict ordering)",
		d.stamp(), logPath, c.rotate, c.logRate, c.rate, c.users)

	// 4. The run: live summary, a split, a kill, then the end of production.
	tick := time.NewTicker(c.summary)
	defer tick.Stop()
	split, kill := timerAt(c.splitAt), timerAt(c.killAt)
	defer split.Stop()
	defer kill.Stop()
	stopProducing := time.NewTimer(c.duration)
	defer stopProducing.Stop()
	var killed *demoProc
	// The split runs beside the loop: waiting for the stream to be ACTIVE again takes seconds on
	// kinesis-mock, and the kill and the summary keep their times meanwhile.
	splitDone := make(chan error, 1)
	splitCtx, stopSplit := context.WithCancel(ctx)
	var splitting sync.WaitGroup
	defer splitting.Wait()
	defer stopSplit()
produce:
	for {
		select {
		case <-ctx.Done():
			return errDemoInterrupted
		case <-tick.C:
			d.summaryLine(ctx, workers, killed)
		case <-split.C:
			splitting.Go(func() { splitDone <- d.split(splitCtx) })
		case err := <-splitDone:
			if err != nil {
				return err
			}
		case <-kill.C:
			killed = d.killBusiest(workers)
			alive[killed] = false
		case <-stopProducing.C:
			break produce
		}
		if p := firstExited(workers, killed); p != nil {
			return fmt.Errorf("worker %s exited on its own (%v); see %s", p.name, p.err, p.logPath)
		}
		if agentProc.exited() {
			return fmt.Errorf("the agent exited on its own (%v); see %s", agentProc.err, agentProc.logPath)
		}
	}
	stopGen()
	gens.Wait()
	if logErr != nil {
		return fmt.Errorf("writing the click-stream log: %w", logErr)
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ferr := prod.Flush(fctx)
	cancel()
	prod.Close()
	close(puts)
	collector.Wait()
	puts = nil
	if ferr != nil {
		d.say("%s the kpl producer did not deliver everything within 30 s: %v", d.stamp(), ferr)
	}
	n := d.tally.counts()
	d.say("%s producing stopped: %d records (kpl %d, agent log %d); waiting up to %v for the workers to consume the rest",
		d.stamp(), n.Produced, n.BySource["kpl"], n.BySource["agent"], c.drain)

	// 5. Drain: every produced record consumed, or the drain time is over.
	drain := time.NewTimer(c.drain)
	defer drain.Stop()
	for over := false; !over && d.tally.counts().Lost > 0; {
		select {
		case <-ctx.Done():
			return errDemoInterrupted
		case <-tick.C:
			d.summaryLine(ctx, workers, killed)
		case <-d.tally.changed:
		case <-drain.C:
			over = true
		}
	}
	d.summaryLine(ctx, workers, killed)

	// 6. Stop the workers (graceful: they checkpoint and release their leases) and the agent.
	var live []*demoProc
	for _, p := range workers {
		if p != killed {
			live = append(live, p)
		}
	}
	stopErr := stopAll(append(live, agentProc), 30*time.Second)
	for p := range alive {
		alive[p] = false
	}
	if stopErr != nil {
		d.say("%s stopping: %v", d.stamp(), stopErr)
	}
	d.say("%s workers and agent stopped (%d log files written, %d rotations)", d.stamp(), lw.files, lw.files-1)

	n = d.tally.counts()
	d.say("%s", n.verdict())
	return n.err()
}

func timerAt(d time.Duration) *time.Timer {
	if d <= 0 {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTimer(d)
}

func firstExited(workers []*demoProc, killed *demoProc) *demoProc {
	for _, p := range workers {
		if p != killed && p.exited() {
			return p
		}
	}
	return nil
}

// stamp is the elapsed time at the start of a line.
func (d *demoRun) stamp() string {
	e := time.Since(d.start).Truncate(time.Second)
	return fmt.Sprintf("%2d:%02d", int(e.Minutes()), int(e.Seconds())%60)
}

func (d *demoRun) summaryLine(ctx context.Context, workers []*demoProc, killed *demoProc) {
	n := d.tally.counts()
	held := d.leasesHeld(ctx)
	var ws []string
	for _, p := range workers {
		s := fmt.Sprintf("%s %d", p.name, n.ByWorker[p.name])
		if p == killed {
			s += " (killed)"
		}
		ws = append(ws, s)
	}
	d.say("%s produced %d (kpl %d, agent %d), consumed %d [%s], not yet consumed %d, duplicates %d, p50 %s ms; leases %s",
		d.stamp(), n.Produced, n.BySource["kpl"], n.BySource["agent"], n.Consumed, strings.Join(ws, ", "),
		n.Lost, n.Duplicates, fmtMillis(n.P50), held)
}

// leasesHeld says who holds the leases of shards not finished yet: "w1 2, w2 1, none 1" (a lease of
// a killed worker keeps its owner until another worker takes it after the failover time).
func (d *demoRun) leasesHeld(ctx context.Context) string {
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ls, err := d.leases.List(lctx)
	if err != nil {
		return "(unread: " + err.Error() + ")"
	}
	by := map[string]int{}
	for _, l := range ls {
		if l.Checkpoint == lease.ShardEnd {
			continue
		}
		owner := l.Owner
		if owner == "" {
			owner = "none"
		}
		by[owner]++
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s %d", o, by[o]))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// split splits the first open shard in two.
func (d *demoRun) split(ctx context.Context) error {
	shards, err := listAllShards(ctx, d.kc, d.stream)
	if err != nil {
		return err
	}
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber == nil {
			id := aws.ToString(s.ShardId)
			if err := splitShard(ctx, d.kc, d.stream, id, time.Minute, io.Discard); err != nil {
				return err
			}
			d.say("%s split %s in two while records flow (parents are read to their end before children)", d.stamp(), id)
			return nil
		}
	}
	return errors.New("no open shard to split")
}

// killBusiest kills (SIGKILL) the live worker that consumed the most records so far: its leases
// expire after the failover time and the other workers take them, from its last checkpoint.
func (d *demoRun) killBusiest(workers []*demoProc) *demoProc {
	n := d.tally.counts()
	var victim *demoProc
	for _, p := range workers {
		if !p.exited() && (victim == nil || n.ByWorker[p.name] > n.ByWorker[victim.name]) {
			victim = p
		}
	}
	victim.kill()
	d.say("%s killed worker %s (SIGKILL) holding its leases: the others take them after the %v failover, from its last checkpoint",
		d.stamp(), victim.name, d.c.failover)
	return victim
}

func (d *demoRun) cleanupStream(ctx context.Context, errp *error) {
	if d.c.keep {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := d.kc.DeleteStream(cctx, &kinesis.DeleteStreamInput{StreamName: aws.String(d.stream)}); err != nil {
		*errp = errors.Join(*errp, fmt.Errorf("deleting the demo stream: %w", err))
	}
}

func (d *demoRun) cleanupTable(ctx context.Context, table string, errp *error) {
	if d.c.keep {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := d.db.DeleteTable(cctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
		*errp = errors.Join(*errp, fmt.Errorf("deleting the lease table: %w", err))
	}
}

// demoPages are the click-stream's pages.
var demoPages = []string{"/", "/search", "/product/42", "/product/7", "/cart", "/checkout", "/help"}

// produceKPL puts c.rate click events per second through the kpl producer until ctx ends. Each
// user's events carry consecutive seq numbers, so the tally can check per-key order.
// Puts use putCtx, not ctx: the records put before production stops are delivered, not cancelled.
func (d *demoRun) produceKPL(ctx, putCtx context.Context, p *kpl.Producer, puts chan<- demoPut) {
	if d.c.rate == 0 {
		return
	}
	const tick = 50 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	next := make([]int64, d.c.users)
	start := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(d.c.rate))
			for ; sent < due; sent++ {
				u := mrand.IntN(d.c.users)
				e := demoEvent{Src: "kpl", User: fmt.Sprintf("user-%03d", u), Page: demoPages[mrand.IntN(len(demoPages))],
					Seq: next[u], T: time.Now().UnixMicro()}
				next[u]++
				data, _ := json.Marshal(e)
				d.tally.produce(e)
				puts <- demoPut{e, p.PutAsync(putCtx, kpl.Record{PartitionKey: e.User, Data: data})}
			}
		}
	}
}

// demoPut is a record put through kpl and its future.
type demoPut struct {
	e demoEvent
	f *kpl.Future
}

// collectPuts takes back from the tally the records whose put failed for good.
func (d *demoRun) collectPuts(puts <-chan demoPut) {
	for p := range puts {
		if _, err := p.f.Wait(context.Background()); err != nil {
			d.tally.fail(p.e)
		}
	}
}

// writeLog appends c.logRate click-stream lines per second to the log until ctx ends.
func (d *demoRun) writeLog(ctx context.Context, lw *demoLog) error {
	if d.c.logRate == 0 {
		return nil
	}
	const tick = 50 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	var seq int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds() * float64(d.c.logRate))
			for ; seq < due; seq++ {
				e := demoEvent{Src: "agent", User: fmt.Sprintf("user-%03d", mrand.IntN(d.c.users)),
					Page: demoPages[mrand.IntN(len(demoPages))], Seq: seq, T: time.Now().UnixMicro()}
				line, _ := json.Marshal(e)
				d.tally.produce(e)
				if err := lw.writeLine(line); err != nil {
					return err
				}
			}
		}
	}
}

// demoLog is the click-stream log: lines appended to path; every rotate lines the file is renamed to
// path.N and a new one is created, as logrotate's create method and a logger reopening its file do.
type demoLog struct {
	path   string
	rotate int
	f      *os.File
	lines  int // in the current file
	files  int // files written so far
}

func newDemoLog(path string, rotate int) (*demoLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &demoLog{path: path, rotate: rotate, f: f, files: 1}, nil
}

func (l *demoLog) writeLine(line []byte) error {
	if l.lines == l.rotate {
		if err := l.f.Close(); err != nil {
			return err
		}
		if err := os.Rename(l.path, l.path+"."+strconv.Itoa(l.files)); err != nil {
			return err
		}
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		l.f, l.lines = f, 0
		l.files++
	}
	l.lines++
	_, err := l.f.Write(append(line, '\n'))
	return err
}

func (l *demoLog) close() { l.f.Close() }
