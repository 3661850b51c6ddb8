package multilang

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kcl"
)

// fakeCheckpointer records checkpoints; err, when set, is returned instead.
type fakeCheckpointer struct {
	mu  sync.Mutex
	got []kcl.Position
	err error
}

func (f *fakeCheckpointer) Checkpoint(_ context.Context, pos kcl.Position) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, pos)
	return nil
}

func (f *fakeCheckpointer) positions() []kcl.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kcl.Position(nil), f.got...)
}

// newFakeProcessor returns a processor whose child is this test binary in the given fake mode, and the
// path of the log of lines the child received.
func newFakeProcessor(t *testing.T, mode string, edit func(*ChildConfig)) (kcl.RecordProcessor, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "received.log")
	cfg := ChildConfig{
		Command:                    []string{exe},
		Env:                        []string{"MULTILANG_FAKE_CHILD=" + mode, "MULTILANG_FAKE_LOG=" + logPath},
		ShardEndRequiresCheckpoint: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	f, err := NewProcessorFactory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := f("shardId-000000000001")
	t.Cleanup(func() {
		if cp := p.(*childProcessor); cp.ch != nil {
			cp.ch.kill()
		}
	})
	return p, logPath
}

func received(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func testRecords() []kcl.Record {
	at := time.UnixMilli(1700000000123)
	return []kcl.Record{
		{PartitionKey: "pk-1", Data: []byte("hello"), ApproximateArrival: at,
			Position: kcl.Position{SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}},
		{PartitionKey: "pk-2", Data: []byte("world"), ApproximateArrival: at, Aggregated: true,
			Position: kcl.Position{SequenceNumber: "49590338271490256608559692538361571095921575989136588899", SubSequenceNumber: 1}},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestProcessorShardLifecycle(t *testing.T) {
	p, logPath := newFakeProcessor(t, "normal", nil)
	c := ctx(t)
	if err := p.Initialize(c, kcl.InitializeInput{ShardID: "shardId-000000000001", Start: kcl.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpointer{}
	if err := p.ProcessRecords(c, kcl.ProcessRecordsInput{ShardID: "shardId-000000000001", Records: testRecords(), MillisBehindLatest: 42, Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(c, kcl.ShutdownInput{ShardID: "shardId-000000000001", Reason: kcl.ShardEnded, Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`,
		`{"action":"processRecords","millisBehindLatest":42,"records":[` +
			`{"data":"aGVsbG8=","partitionKey":"pk-1","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":0,"action":"record"},` +
			`{"data":"d29ybGQ=","partitionKey":"pk-2","sequenceNumber":"49590338271490256608559692538361571095921575989136588899","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":1,"action":"record"}]}`,
		// The Node client checkpoints without subSequenceNumber: Java's checkpoint(seq) means sub 0.
		`{"action":"checkpoint","sequenceNumber":"49590338271490256608559692538361571095921575989136588899","subSequenceNumber":null,"error":null}`,
		`{"action":"shardEnded"}`,
		`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}`,
	}
	got := received(t, logPath)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("child received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The shard end was acknowledged without a write (the worker writes SHARD_END).
	wantCP := []kcl.Position{{SequenceNumber: "49590338271490256608559692538361571095921575989136588899"}}
	if g := cp.positions(); len(g) != 1 || g[0] != wantCP[0] {
		t.Errorf("checkpoints %v, want %v", g, wantCP)
	}
	if p.(*childProcessor).ch != nil {
		t.Error("child still running after shardEnded")
	}
}

func TestProcessorShutdownRequestedThenLeaseLost(t *testing.T) {
	p, logPath := newFakeProcessor(t, "normal", nil)
	c := ctx(t)
	start := kcl.Position{SequenceNumber: "123", SubSequenceNumber: 4}
	if err := p.Initialize(c, kcl.InitializeInput{ShardID: "shardId-000000000001", Start: start}); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpointer{}
	if err := p.Shutdown(c, kcl.ShutdownInput{ShardID: "shardId-000000000001", Reason: kcl.Requested, Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"123","subSequenceNumber":4}`,
		`{"action":"shutdownRequested"}`,
		// Nothing delivered yet: checkpoint() has nothing to store and succeeds.
		`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}`,
		`{"action":"leaseLost"}`,
	}
	if got := received(t, logPath); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("child received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(cp.positions()) != 0 {
		t.Errorf("checkpoints %v, want none", cp.positions())
	}
}

func TestProcessorCheckpointErrors(t *testing.T) {
	p, logPath := newFakeProcessor(t, "badcheckpoint", nil)
	c := ctx(t)
	if err := p.Initialize(c, kcl.InitializeInput{ShardID: "shardId-000000000001", Start: kcl.Latest}); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpointer{err: kcl.ErrLeaseLost}
	if err := p.ProcessRecords(c, kcl.ProcessRecordsInput{Records: testRecords()[:1], Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(c, kcl.ShutdownInput{Reason: kcl.LeaseLost}); err != nil {
		t.Fatal(err)
	}
	got := received(t, logPath)
	want := []string{
		`{"action":"checkpoint","sequenceNumber":"abc","subSequenceNumber":null,"error":"IllegalArgumentException"}`,
		`{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":-1,"error":"IllegalArgumentException"}`,
		`{"action":"checkpoint","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","subSequenceNumber":null,"error":"ShutdownException"}`,
		`{"action":"leaseLost"}`,
		`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":"InvalidStateException"}`,
	}
	if len(got) != 2+len(want) || strings.Join(got[2:], "\n") != strings.Join(want, "\n") {
		t.Errorf("child received:\n%s\nwant after initialize and processRecords:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckpointErrorName(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"invalid position": {kcl.ErrInvalidPosition, "IllegalArgumentException"},
		"lease lost":       {kcl.ErrLeaseLost, "ShutdownException"},
		"throughput":       {&smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, "ThrottlingException"},
		"throttling":       {&smithy.GenericAPIError{Code: "ThrottlingException"}, "ThrottlingException"},
		"request limit":    {&smithy.GenericAPIError{Code: "RequestLimitExceeded"}, "ThrottlingException"},
		"other api error":  {&smithy.GenericAPIError{Code: "InternalServerError"}, "KinesisClientLibDependencyException"},
		"context":          {context.DeadlineExceeded, "KinesisClientLibDependencyException"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := checkpointErrorName(tc.err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestProcessorRestartsCrashedChild(t *testing.T) {
	p, logPath := newFakeProcessor(t, "crashonce", nil)
	c := ctx(t)
	if err := p.Initialize(c, kcl.InitializeInput{ShardID: "shardId-000000000001", Start: kcl.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpointer{}
	in := kcl.ProcessRecordsInput{Records: testRecords(), Checkpointer: cp}
	err := p.ProcessRecords(c, in)
	if !errors.Is(err, ErrChildFailed) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("ProcessRecords with a crashing child: %v, want ErrChildFailed with the exit status", err)
	}
	// The worker delivers the same batch again: a fresh child is initialized first.
	if err := p.ProcessRecords(c, in); err != nil {
		t.Fatal(err)
	}
	var inits, batches int
	for _, l := range received(t, logPath) {
		switch {
		case strings.HasPrefix(l, `{"action":"initialize"`):
			inits++
		case strings.HasPrefix(l, `{"action":"processRecords"`):
			batches++
		}
	}
	if inits != 2 || batches != 2 {
		t.Errorf("%d initialize and %d processRecords received, want 2 and 2", inits, batches)
	}
	if len(cp.positions()) != 1 {
		t.Errorf("checkpoints %v, want one", cp.positions())
	}
}

func TestProcessorExitPolicy(t *testing.T) {
	fatal := make(chan error, 1)
	p, _ := newFakeProcessor(t, "crash", func(c *ChildConfig) {
		c.OnChildFailure = Exit
		c.OnFatal = func(err error) { fatal <- err }
	})
	c := ctx(t)
	if err := p.Initialize(c, kcl.InitializeInput{Start: kcl.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	err := p.ProcessRecords(c, kcl.ProcessRecordsInput{Records: testRecords(), Checkpointer: &fakeCheckpointer{}})
	if !errors.Is(err, ErrChildFailed) {
		t.Fatalf("got %v, want ErrChildFailed", err)
	}
	select {
	case ferr := <-fatal:
		if !errors.Is(ferr, ErrChildFailed) {
			t.Errorf("OnFatal got %v", ferr)
		}
	default:
		t.Error("OnFatal not called under the exit policy")
	}
}

func TestProcessorProtocolFailures(t *testing.T) {
	cases := map[string]struct {
		mode string
		want string
	}{
		"wrong status": {mode: "wrongstatus", want: `status for "initialize" while waiting for processRecords`},
		"timeout":      {mode: "silent", want: "timeoutInSeconds"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, _ := newFakeProcessor(t, tc.mode, nil)
			c := ctx(t)
			if err := p.Initialize(c, kcl.InitializeInput{Start: kcl.TrimHorizon}); err != nil {
				t.Fatal(err)
			}
			if tc.mode == "silent" {
				// Set after Initialize: a child built with -race on a loaded machine may take longer
				// than this to start; the silent child never answers processRecords.
				p.(*childProcessor).cfg.Timeout = 300 * time.Millisecond
			}
			err := p.ProcessRecords(c, kcl.ProcessRecordsInput{Records: testRecords(), Checkpointer: &fakeCheckpointer{}})
			if !errors.Is(err, ErrChildFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrChildFailed mentioning %q", err, tc.want)
			}
			if p.(*childProcessor).ch != nil {
				t.Error("the failed child is still referenced")
			}
		})
	}
}

func TestProcessorContextCancelKillsChild(t *testing.T) {
	p, _ := newFakeProcessor(t, "silent", nil)
	if err := p.Initialize(ctx(t), kcl.InitializeInput{Start: kcl.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	ch := p.(*childProcessor).ch
	done := make(chan error, 1)
	go func() {
		done <- p.ProcessRecords(c, kcl.ProcessRecordsInput{Records: testRecords(), Checkpointer: &fakeCheckpointer{}})
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	select {
	case <-ch.exited:
	default:
		t.Error("child not reaped after the cancelled call")
	}
}

func TestProcessorSkipsNoise(t *testing.T) {
	var logBuf syncBuffer
	p, _ := newFakeProcessor(t, "noisy", func(c *ChildConfig) { c.Logger = newTestLogger(&logBuf) })
	c := ctx(t)
	if err := p.Initialize(c, kcl.InitializeInput{Start: kcl.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpointer{}
	if err := p.ProcessRecords(c, kcl.ProcessRecordsInput{Records: testRecords(), Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(c, kcl.ShutdownInput{Reason: kcl.LeaseLost}); err != nil {
		t.Fatal(err)
	}
	if len(cp.positions()) != 1 {
		t.Errorf("checkpoints %v, want one", cp.positions())
	}
	out := logBuf.String()
	for _, want := range []string{`"msg":"skipping unexpected line on child stdout (stdout carries the protocol; a child logs on stderr)","shard_id":"shardId-000000000001"`, `"bytes":8`,
		`"level":"ERROR","msg":"child stderr"`, `"line":"a line on stderr"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not json") {
		t.Errorf("the child's stray stdout line reached the log (it may be record data):\n%s", out)
	}
}

func TestProcessorShardEndNotCheckpointed(t *testing.T) {
	for _, require := range []bool{true, false} {
		p, logPath := newFakeProcessor(t, "nocheckpoint", func(c *ChildConfig) { c.ShardEndRequiresCheckpoint = require })
		c := ctx(t)
		// No Initialize: a retried shard end runs a fresh child, initialized first.
		p.(*childProcessor).start = kcl.Position{SequenceNumber: "5"}
		err := p.Shutdown(c, kcl.ShutdownInput{Reason: kcl.ShardEnded, Checkpointer: &fakeCheckpointer{}})
		if require && !errors.Is(err, ErrShardEndNotCheckpointed) {
			t.Errorf("require: got %v, want ErrShardEndNotCheckpointed", err)
		}
		if !require && err != nil {
			t.Errorf("no require: got %v", err)
		}
		got := received(t, logPath)
		if len(got) != 2 || got[0] != `{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"5","subSequenceNumber":0}` || got[1] != `{"action":"shardEnded"}` {
			t.Errorf("child received %q", got)
		}
	}
}

func TestProcessorStartFailure(t *testing.T) {
	f, err := NewProcessorFactory(ChildConfig{Command: []string{"/nonexistent/child"}})
	if err != nil {
		t.Fatal(err)
	}
	p := f("shardId-000000000000")
	if err := p.Initialize(ctx(t), kcl.InitializeInput{Start: kcl.TrimHorizon}); !errors.Is(err, ErrChildFailed) {
		t.Fatalf("got %v, want ErrChildFailed", err)
	}
	if _, err := NewProcessorFactory(ChildConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty command: %v, want ErrInvalidConfig", err)
	}
	if _, err := NewProcessorFactory(ChildConfig{Command: []string{"x"}, OnChildFailure: Exit}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("exit without OnFatal: %v, want ErrInvalidConfig", err)
	}
}
