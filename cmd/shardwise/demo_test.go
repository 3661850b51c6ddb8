package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// consumeJSONL is a line as `shardwise consume --format jsonl` prints it.
func consumeJSONL(t *testing.T, e demoEvent) []byte {
	t.Helper()
	data, _ := json.Marshal(e)
	line, err := json.Marshal(map[string]any{"shardId": "shardId-000000000000", "sequenceNumber": "1",
		"subSequenceNumber": 0, "partitionKey": e.User, "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestDemoTally: the verdict's numbers from a known history: a record consumed twice (a duplicate), a
// user's record consumed for the first time after a later one (one order violation), a record never
// consumed (lost), a failed put (not produced), an agent record, and lines that are no demo record.
func TestDemoTally(t *testing.T) {
	tl := newDemoTally()
	t0 := time.UnixMicro(1_000_000_000)
	ev := func(src, user string, seq int64) demoEvent {
		return demoEvent{Src: src, User: user, Seq: seq, T: t0.UnixMicro()}
	}
	for seq := range int64(4) {
		tl.produce(ev("kpl", "user-001", seq))
	}
	tl.produce(ev("kpl", "user-002", 0))
	tl.produce(ev("agent", "user-009", 0))
	tl.produce(ev("agent", "user-009", 1))
	failed := ev("kpl", "user-003", 0)
	tl.produce(failed)
	tl.fail(failed)

	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl.consumeLine("w1", consumeJSONL(t, ev("kpl", "user-001", 0)), at(10))
	tl.consumeLine("w1", consumeJSONL(t, ev("kpl", "user-001", 2)), at(20))
	tl.consumeLine("w2", consumeJSONL(t, ev("kpl", "user-001", 1)), at(30)) // after seq 2: violation
	tl.consumeLine("w2", consumeJSONL(t, ev("kpl", "user-001", 2)), at(40)) // again: a duplicate, no violation
	tl.consumeLine("w2", consumeJSONL(t, ev("kpl", "user-002", 0)), at(50))
	tl.consumeLine("w3", consumeJSONL(t, ev("agent", "user-009", 1)), at(60)) // agent records: no order check
	tl.consumeLine("w3", consumeJSONL(t, ev("agent", "user-009", 0)), at(70))
	tl.consumeLine("w3", []byte("not json"), at(80))
	tl.consumeLine("w3", consumeJSONL(t, ev("kpl", "user-404", 0)), at(90)) // never produced
	// user-001 seq 3 is never consumed.

	c := tl.counts()
	want := demoCounts{Produced: 7, Failed: 1, Consumed: 6, Lost: 1, Duplicates: 1, Unknown: 2, OrderViolations: 1}
	if c.Produced != want.Produced || c.Failed != want.Failed || c.Consumed != want.Consumed || c.Lost != want.Lost ||
		c.Duplicates != want.Duplicates || c.Unknown != want.Unknown || c.OrderViolations != want.OrderViolations {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
	if c.ByWorker["w1"] != 2 || c.ByWorker["w2"] != 2 || c.ByWorker["w3"] != 2 {
		t.Errorf("first consumptions per worker = %v, want 2 each", c.ByWorker)
	}
	if c.BySource["kpl"] != 5 || c.BySource["agent"] != 2 {
		t.Errorf("produced per source = %v, want kpl 5, agent 2", c.BySource)
	}
	// Latencies of first consumptions: 10, 20, 30, 50, 60, 70 ms.
	if c.P50 != 30 || c.P99 != 70 {
		t.Errorf("p50, p99 = %v, %v ms; want 30, 70", c.P50, c.P99)
	}
	if got, want := c.verdict(), "produced 7, consumed 6, lost 1, duplicates 1, order violations 1, put→process p50 30 ms p99 70 ms"; got != want {
		t.Errorf("verdict = %q, want %q", got, want)
	}
	if err := c.err(); err == nil || !strings.Contains(err.Error(), "1 of 7 records lost") {
		t.Errorf("err = %v, want the lost record named", err)
	}
}

func TestPercentile(t *testing.T) {
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing must be NaN")
	}
	vals := make([]float64, 100)
	for i := range vals {
		vals[i] = float64(i + 1)
	}
	for _, tc := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0, 1}} {
		if got := percentile(vals, tc.p); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("percentile([7], 99) = %v", got)
	}
}

// TestDemoLogRotates: the click-stream log is renamed to clicks.log.N every rotate lines and a new
// file takes its place; no line is lost or written twice.
func TestDemoLogRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clicks.log")
	l, err := newDemoLog(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := l.writeLine([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	l.close()
	var all []string
	for _, name := range []string{"clicks.log.1", "clicks.log.2", "clicks.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, strings.Fields(string(b))...)
	}
	if got := strings.Join(all, " "); got != "0 1 2 3 4 5 6 7" || l.files != 3 {
		t.Errorf("lines over the files = %q (%d files), want 0..7 over 3", got, l.files)
	}
}

// TestDemoNeedsDynamoDB: without a DynamoDB endpoint, or with one that does not answer, the demo
// fails at once in one line that says how to start it.
func TestDemoNeedsDynamoDB(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for _, tc := range []struct{ endpoint, want string }{
		{"", "AWS_ENDPOINT_URL_DYNAMODB is not set"},
		{dead, "does not answer"},
		{"https://192.0.2.1:4570", "not a loopback address"},
	} {
		t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", tc.endpoint)
		var out, errOut bytes.Buffer
		err := runDemo(testCtx(t), []string{"--short", "--agent", os.Args[0]}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("endpoint %q: err = %v, want one line with %q", tc.endpoint, err, tc.want)
		}
		if tc.endpoint != "https://192.0.2.1:4570" && !strings.Contains(err.Error(), "engines.sh start") {
			t.Errorf("endpoint %q: %v does not say how to start the local DynamoDB", tc.endpoint, err)
		}
		if out.Len() != 0 {
			t.Errorf("endpoint %q: the demo printed %q before failing", tc.endpoint, out.String())
		}
	}
}

var verdictRE = regexp.MustCompile(`(?m)^produced (\d+), consumed (\d+), lost (\d+), duplicates (\d+), order violations (\d+), put→process p50 ([\d.]+) ms p99 ([\d.]+) ms$`)

// TestDemoShort runs `shardwise demo --short` as make test does: the built shardwise and
// shardwise-agent binaries, an in-process kinesistest, the local DynamoDB (AWS_ENDPOINT_URL_DYNAMODB,
// skipped without it), three consume worker processes, a split and a killed worker. The verdict line
// must say nothing was lost and nothing came out of per-key order.
func TestDemoShort(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		t.Skip("needs the local DynamoDB: eval \"$(localstack-test/engines.sh env)\"")
	}
	if testing.Short() {
		t.Skip("builds two binaries and runs for about 20 s")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries")
	}
	bin := t.TempDir()
	build := exec.Command(goBin, "build", "-o", bin+string(filepath.Separator),
		"github.com/shardwise/shardwise/cmd/shardwise", "github.com/shardwise/shardwise/cmd/shardwise-agent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("verdict", func(t *testing.T) { testDemoVerdict(t, bin) })
	t.Run("interrupted", func(t *testing.T) { testDemoInterrupted(t, bin) })
}

func testDemoVerdict(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "shardwise"), "demo", "--short")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("demo --short took %v:\n%s", time.Since(start).Round(time.Second), stdout.String())
	if runErr != nil {
		t.Fatalf("demo --short: %v\nstderr:\n%s", runErr, stderr.String())
	}
	m := verdictRE.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no verdict line in the output")
	}
	if last := strings.TrimSpace(stdout.String()); !strings.HasSuffix(last, m[0]) {
		t.Errorf("the verdict is not the last line")
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(1) == 0 || n(1) != n(2) || n(3) != 0 || n(5) != 0 {
		t.Errorf("verdict %q: want produced = consumed > 0, lost 0, order violations 0", m[0])
	}
	for _, want := range []string{"split shardId-", "killed worker w", "workers and agent stopped"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}

// testDemoInterrupted: SIGINT while the demo runs stops every child process (workers, agent) before
// the demo exits, non-zero.
func testDemoInterrupted(t *testing.T, bin string) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc to look for child processes")
	}
	cmd := exec.Command(filepath.Join(bin, "shardwise"), "demo", "--short")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait until the workers and the agent run, then interrupt.
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "shardwise-agent tails") {
			break
		}
	}
	children := childProcesses(cmd.Process.Pid)
	if len(children) != 4 {
		t.Errorf("%d child processes running, want 3 workers and the agent:\n%s", len(children), out.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	if err == nil || !strings.Contains(stderr.String(), "demo interrupted") {
		t.Errorf("demo after SIGINT: %v, stderr %q; want a non-zero exit saying it was interrupted", err, stderr.String())
	}
	for _, pid := range children {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !bytes.Contains(b, []byte(") Z ")) {
				t.Errorf("child %d still runs after the demo exited", pid)
			}
		}
	}
}

// childProcesses returns the pids whose parent is pid (Linux /proc).
func childProcesses(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}
