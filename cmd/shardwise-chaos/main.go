// Command shardwise-chaos runs the chaos suite: every scenario runs the toolkit as separate
// processes (shardwise put, shardwise consume, shardwise-agent) against `shardwise local-kinesis`
// with faults and the local DynamoDB (dynalite) behind fault proxies (internal/faultproxy), and
// prints one line with what it kept:
//
//	chaos b fleet-kills: produced=… consumed=… lost=0 dups=… order_violations=0 longest_failover=… peak_rss=… seed=… PASS
//
// It exits non-zero when any promise is broken (a record lost, order broken where it was asked
// for, a lease that flapped or never moved, a worker processing without its lease, …). Seeds are
// printed; -seed S -scenario X replays one. Usage (engines up, see localstack-test/engines.sh):
//
//	eval "$(localstack-test/engines.sh env)"
//	go run ./cmd/shardwise-chaos [-short] [-scenario a,b,…] [-seed N] [-bin DIR] [-keep]
//
// It is a program rather than a test package: each scenario is a minute of wall clock driving real
// processes, its output is the one line per scenario the README quotes, and it builds the binaries
// under test without the race detector (a -race build changes the timings being measured). Its own
// logic is unit-tested (tally_test.go) and the proxy has its own tests.
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// runner holds what every scenario shares.
type runner struct {
	short                bool
	seed                 uint64
	binDir               string
	root                 string // the run's directory: one subdirectory per scenario
	dynamoURL            string // dynalite, direct
	db                   *dynamodb.Client
	accessKey, secretKey string   // the test credentials every child gets (the log check greps for them)
	dataMark, keyMark    string   // in every record's data and partition key (likewise)
	runTok               string   // random per run: lease tables are never reused by a replay
	known                []string // "ID:text": a broken promise of scenario ID containing text is a known bug
}

// isKnown reports whether the broken promise msg of scenario id was declared known with -known.
func (r *runner) isKnown(id, msg string) bool {
	for _, k := range r.known {
		kid, text, ok := strings.Cut(k, ":")
		if ok && kid == id && text != "" && strings.Contains(msg, text) {
			return true
		}
	}
	return false
}

// scen is one scenario's run.
type scen struct {
	r    *runner
	name string
	dir  string
	rng  *rand.Rand

	mu      sync.Mutex
	procs   []*proc
	cleanup []func()
}

// result is what a scenario prints.
type result struct {
	c        counts
	failover time.Duration // -1: no failover in this scenario
	peak     map[string]int64
	extra    []string // name=value
	broken   []string // promises broken

	missingSample []string // a few lost ids
}

func (res *result) breakf(format string, args ...any) {
	res.broken = append(res.broken, fmt.Sprintf(format, args...))
}

// scenario is one entry of the suite.
type scenario struct {
	id, name string
	run      func(ctx context.Context, s *scen) (*result, error)
}

var scenarios = []scenario{
	{"a", "producer-faults", runProducerFaults},
	{"b", "fleet-kills-reshard", runFleetKills},
	{"c", "worker-cut-off", runWorkerCutOff},
	{"d", "dynamodb-slow-throttled", runDynamoSlow},
	{"e", "agent-kill-rotations", runAgentKills},
	{"f", "producer-partition", runProducerPartition},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardwise-chaos:", err)
		os.Exit(1)
	}
}

var errBroken = errors.New("promises broken")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shardwise-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "short durations (the variant in make test)")
	only := fs.String("scenario", "", "comma-separated scenario ids to run (a-f; default all)")
	seed := fs.Uint64("seed", 0, "seed of every random choice (0: a fresh one, printed)")
	bin := fs.String("bin", "", "directory holding prebuilt shardwise and shardwise-agent (default: build them)")
	keep := fs.Bool("keep", false, "keep the run directory (logs, outputs) even when every scenario passed")
	dynamo := fs.String("dynamodb", os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), "DynamoDB endpoint URL (dynalite)")
	known := fs.String("known", "", "comma-separated `ID:text` pairs: a broken promise of scenario ID (or logcheck) containing text is a known bug: printed as KNOWN, not failing the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dynamo == "" {
		return errors.New("no DynamoDB endpoint: start the engines (localstack-test/engines.sh start; eval \"$(localstack-test/engines.sh env)\") or pass -dynamodb")
	}
	if *seed == 0 {
		var b [8]byte
		crand.Read(b[:])
		*seed = binary.LittleEndian.Uint64(b[:]) >> 1
	}
	var tok [4]byte
	crand.Read(tok[:])
	t := hex.EncodeToString(tok[:])
	r := &runner{short: *short, seed: *seed, dynamoURL: *dynamo,
		accessKey: "AKIACHAOS" + strings.ToUpper(t), secretKey: "chaos-secret-" + t,
		dataMark: "chaosdata" + t, keyMark: "chaoskey" + t, runTok: t}
	for _, k := range strings.Split(*known, ",") {
		if k = strings.TrimSpace(k); k != "" {
			r.known = append(r.known, k)
		}
	}
	root, err := os.MkdirTemp("", "shardwise-chaos-")
	if err != nil {
		return err
	}
	r.root = root
	r.binDir = *bin
	if r.binDir == "" {
		r.binDir = filepath.Join(root, "bin")
		build := exec.CommandContext(ctx, "go", "build", "-o", r.binDir+"/", "./cmd/shardwise", "./cmd/shardwise-agent")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the binaries (run from the module root): %w", err)
		}
	}
	r.db = dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(*dynamo),
		Credentials: credentials.NewStaticCredentialsProvider("runner", "runner", "")})

	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = r.db.ListTables(pctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	pcancel()
	if err != nil {
		return fmt.Errorf("DynamoDB at %s does not answer: %w", *dynamo, err)
	}
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	failed := false
	start := time.Now()
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.id] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		line, ok := r.runOne(ctx, sc)
		fmt.Fprintln(stdout, line)
		failed = failed || !ok
	}
	line, ok := r.logCheck()
	fmt.Fprintln(stdout, line)
	failed = failed || !ok
	fmt.Fprintf(stderr, "shardwise-chaos: %s in %v; logs in %s\n", map[bool]string{true: "FAILED", false: "passed"}[failed],
		time.Since(start).Round(time.Second), root)
	if !failed && !*keep {
		os.RemoveAll(root)
	}
	if failed {
		return errBroken
	}
	return ctx.Err()
}

// runOne runs a scenario and formats its line; ok is false when a promise was broken or the
// scenario could not run.
func (r *runner) runOne(ctx context.Context, sc scenario) (string, bool) {
	s := &scen{r: r, name: sc.id + "-" + sc.name, rng: rand.New(rand.NewPCG(r.seed, uint64(sc.id[0])))}
	s.dir = filepath.Join(r.root, s.name)
	head := fmt.Sprintf("chaos %s %s:", sc.id, sc.name)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return head + " ERROR " + err.Error(), false
	}
	began := time.Now()
	res, err := sc.run(ctx, s)
	s.stopAll()
	took := time.Since(began).Round(time.Second)
	if err != nil {
		return fmt.Sprintf("%s ERROR %v seed=%d took=%v (logs: %s)", head, err, r.seed, took, s.dir), false
	}
	c := res.c
	if c.lost != 0 {
		res.breakf("%d lost (e.g. %s)", c.lost, strings.Join(res.missingSample, ","))
	}
	if c.junk != 0 {
		res.breakf("%d records nobody produced", c.junk)
	}
	fo := "-"
	if res.failover >= 0 {
		fo = res.failover.Round(100 * time.Millisecond).String()
	}
	var peaks []string
	for role, kb := range res.peak {
		peaks = append(peaks, role+":"+mb(kb))
	}
	sort.Strings(peaks)
	verdict, ok := r.verdict(sc.id, res.broken)
	extra := ""
	if len(res.extra) > 0 {
		extra = " " + strings.Join(res.extra, " ")
	}
	return fmt.Sprintf("%s produced=%d consumed=%d lost=%d dups=%d order_violations=%d longest_failover=%s peak_rss=%s%s seed=%d took=%v %s",
		head, c.produced, c.unique, c.lost, c.dups, c.orderBad, fo, strings.Join(peaks, ","), extra, r.seed, took, verdict), ok
}

// verdict is PASS, FAIL: (promises broken, not known) or KNOWN: (only known bugs); ok is false
// only for FAIL.
func (r *runner) verdict(id string, broken []string) (string, bool) {
	var unknown, known []string
	for _, b := range broken {
		if r.isKnown(id, b) {
			known = append(known, b)
		} else {
			unknown = append(unknown, b)
		}
	}
	switch {
	case len(unknown) > 0:
		v := "FAIL: " + strings.Join(unknown, "; ")
		if len(known) > 0 {
			v += "; KNOWN: " + strings.Join(known, "; ")
		}
		return v, false
	case len(known) > 0:
		return "KNOWN: " + strings.Join(known, "; "), true
	}
	return "PASS", true
}

// stopAll ends whatever the scenario left running (SIGKILL: the scenario already stopped what it
// measures) and runs its cleanups in reverse.
func (s *scen) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for _, p := range procs {
		if p.running() {
			p.kill()
		}
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

func (s *scen) onCleanup(f func()) { s.cleanup = append(s.cleanup, f) }

// dur picks the short or the full duration.
func (s *scen) dur(short, full time.Duration) time.Duration {
	if s.r.short {
		return short
	}
	return full
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitUntil polls cond every 100ms until it holds or d passes.
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		_ = sleep(ctx, 100*time.Millisecond) // ctx's end is checked above
	}
	return true
}
