package cloudwatch

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// fakeCW is a CloudWatch endpoint speaking what the SDK sends for PutMetricData (Smithy RPC v2
// CBOR, gzip above the SDK's compression threshold); it checks each request against the API's
// limits and records the datums, statistic sets included.
type fakeCW struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	calls  []call
	status int // answer status when not 200 (0: accept)
}

type call struct {
	namespace string
	datums    []datum
	bodyBytes int
}

type datum struct {
	name, unit                 string
	dims                       map[string]string
	min, max, sum, sampleCount float64
	time                       time.Time
}

func newFakeCW(t *testing.T) *fakeCW {
	f := &fakeCW{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCW) client() *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func (f *fakeCW) setStatus(s int) {
	f.mu.Lock()
	f.status = s
	f.mu.Unlock()
}

func (f *fakeCW) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeCW) refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + code), "message": cbor.String(msg)}))
}

func (f *fakeCW) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/service/GraniteServiceVersion20100801/operation/PutMetricData" || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		f.refuse(w, http.StatusBadRequest, "UnknownOperationException", r.URL.Path)
		return
	}
	var in io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.refuse(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
		in = zr
	}
	body, err := io.ReadAll(in)
	if err != nil {
		f.refuse(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	c, err := decode(body)
	if err != nil {
		f.t.Errorf("PutMetricData body: %v", err)
		f.refuse(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	// The limits of the API: 1,000 datums and 1 MB per request, 30 dimensions per datum.
	if len(c.datums) > 1000 || c.bodyBytes > 1<<20 {
		f.t.Errorf("PutMetricData with %d datums, %d bytes: over the limits", len(c.datums), c.bodyBytes)
		f.refuse(w, http.StatusBadRequest, "InvalidParameterValue", "too large")
		return
	}
	for _, d := range c.datums {
		if len(d.dims) > 30 || d.sampleCount <= 0 || d.min > d.max {
			f.t.Errorf("invalid datum %+v", d)
		}
	}
	f.mu.Lock()
	status := f.status
	if status == 0 || status == http.StatusOK {
		f.calls = append(f.calls, c)
	}
	f.mu.Unlock()
	if status != 0 && status != http.StatusOK {
		f.refuse(w, status, "InternalServiceError", "refused by the test")
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Write(cbor.Encode(cbor.Map{}))
}

func decode(body []byte) (call, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return call{}, err
	}
	top, ok := v.(cbor.Map)
	if !ok {
		return call{}, fmt.Errorf("body is %T", v)
	}
	ns, _ := top["Namespace"].(cbor.String)
	c := call{namespace: string(ns), bodyBytes: len(body)}
	list, ok := top["MetricData"].(cbor.List)
	if !ok {
		return call{}, fmt.Errorf("MetricData is %T", top["MetricData"])
	}
	for i, item := range list {
		m, _ := item.(cbor.Map)
		name, _ := m["MetricName"].(cbor.String)
		unit, _ := m["Unit"].(cbor.String)
		d := datum{name: string(name), unit: string(unit), dims: map[string]string{}}
		sv, ok := m["StatisticValues"].(cbor.Map)
		if !ok {
			return call{}, fmt.Errorf("MetricData[%d] %s: no StatisticValues", i, name)
		}
		for k, p := range map[string]*float64{"Minimum": &d.min, "Maximum": &d.max, "Sum": &d.sum, "SampleCount": &d.sampleCount} {
			if *p, err = cbor.AsFloat64(sv[k]); err != nil {
				return call{}, fmt.Errorf("MetricData[%d].StatisticValues.%s: %w", i, k, err)
			}
		}
		if d.time, err = cbor.AsTime(m["Timestamp"]); err != nil {
			return call{}, fmt.Errorf("MetricData[%d].Timestamp: %w", i, err)
		}
		dims, _ := m["Dimensions"].(cbor.List)
		for _, x := range dims {
			dm, _ := x.(cbor.Map)
			n, _ := dm["Name"].(cbor.String)
			val, _ := dm["Value"].(cbor.String)
			d.dims[string(n)] = string(val)
		}
		c.datums = append(c.datums, d)
	}
	return c, nil
}

// key names a datum: metric name and its dimensions, sorted.
func (d datum) key() string {
	var parts []string
	for k, v := range d.dims {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return d.name + "{" + strings.Join(parts, ",") + "}"
}

func byKey(calls []call) map[string]datum {
	out := map[string]datum{}
	for _, c := range calls {
		for _, d := range c.datums {
			if old, ok := out[d.key()]; ok {
				old.sum += d.sum
				old.sampleCount += d.sampleCount
				old.min, old.max = min(old.min, d.min), max(old.max, d.max)
				d = old
			}
			out[d.key()] = d
		}
	}
	return out
}

func closeOK(t *testing.T, m *Metrics) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEveryHookAsserted(t *testing.T) {
	src, err := os.ReadFile("hooks.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kpl", "kcl", "lease", "agent"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", pkg, "*.go"))
		n := 0
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(x ast.Node) bool {
				ts, ok := x.(*ast.TypeSpec)
				if !ok {
					return true
				}
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() && strings.HasPrefix(ts.Name.Name, "Hook") {
					n++
					if !strings.Contains(string(src), "_ "+pkg+"."+ts.Name.Name+" ") {
						t.Errorf("%s.%s is not asserted for *Metrics in hooks.go", pkg, ts.Name.Name)
					}
				}
				return false
			})
		}
		if n == 0 {
			t.Errorf("no Hook interfaces found in %s", pkg)
		}
	}
}

// TestKPLNamesDimensionsGranularity: at the default granularity (shard) each KPL metric is sent
// without dimensions, with StreamName, and with StreamName and ShardId, as statistic sets.
func TestKPLNamesDimensionsGranularity(t *testing.T) {
	f := newFakeCW(t)
	m, err := New(f.client(), Config{Namespace: "KinesisProducerLibrary", Interval: time.Hour,
		Dimensions: []types.Dimension{{Name: aws.String("Host"), Value: aws.String("h1")}}})
	if err != nil {
		t.Fatal(err)
	}
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", ShardID: "shardId-0", Bytes: 10, Attempts: 1, BufferingTime: 40 * time.Millisecond})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", ShardID: "shardId-1", Bytes: 30, Attempts: 3, BufferingTime: 100 * time.Millisecond})
	m.OnEntryError(kpl.EntryErrorEvent{Stream: "orders", ShardID: "shardId-1", Code: "ProvisionedThroughputExceededException", Retrying: true})
	m.OnPutRecords(kpl.PutRecordsEvent{Stream: "orders", KinesisRecords: 2, Latency: 25 * time.Millisecond})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", Attempts: 2, BufferingTime: 60 * time.Millisecond, Err: &kpl.RecordError{Err: kpl.ErrRecordExpired}})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", Err: &kpl.RecordError{Err: kpl.ErrMaxBuffered}})
	closeOK(t, m)

	calls := f.snapshot()
	if len(calls) != 1 || calls[0].namespace != "KinesisProducerLibrary" {
		t.Fatalf("calls %+v", calls)
	}
	got := byKey(calls)
	want := map[string][4]float64{ // sum, count, min, max
		"UserRecordsPut{Host=h1}":                                                {2, 2, 1, 1},
		"UserRecordsPut{Host=h1,StreamName=orders}":                              {2, 2, 1, 1},
		"UserRecordsPut{Host=h1,ShardId=shardId-0,StreamName=orders}":            {1, 1, 1, 1},
		"UserRecordsPut{Host=h1,ShardId=shardId-1,StreamName=orders}":            {1, 1, 1, 1},
		"UserRecordsDataPut{Host=h1,StreamName=orders}":                          {40, 2, 10, 30},
		"BufferingTime{Host=h1,StreamName=orders}":                               {200, 3, 40, 100},
		"RetriesPerRecord{Host=h1}":                                              {3, 3, 0, 2},
		"AllErrors{Host=h1,ShardId=shardId-1,StreamName=orders}":                 {1, 1, 1, 1},
		"ErrorsByCode{ErrorCode=ProvisionedThroughputExceededException,Host=h1}": {1, 1, 1, 1},
		"RequestTime{Host=h1,StreamName=orders}":                                 {25, 1, 25, 25},
		"KinesisRecordsPerPutRecordsRequest{Host=h1}":                            {2, 1, 2, 2},
		"UserRecordExpired{Host=h1,StreamName=orders}":                           {1, 1, 1, 1},
		"UserRecordsFailed{Host=h1,StreamName=orders}":                           {1, 1, 1, 1},
	}
	for k, w := range want {
		d, ok := got[k]
		if !ok {
			t.Errorf("no datum %s", k)
			continue
		}
		if g := [4]float64{d.sum, d.sampleCount, d.min, d.max}; g != w {
			t.Errorf("%s: sum, count, min, max = %v, want %v", k, g, w)
		}
	}
	if d := got["BufferingTime{Host=h1,StreamName=orders}"]; d.unit != "Milliseconds" {
		t.Errorf("BufferingTime unit %q", d.unit)
	}
	if _, ok := got["RequestTime{Host=h1,ShardId=shardId-0,StreamName=orders}"]; ok {
		t.Error("RequestTime has a ShardId dimension; the KPL sends it per stream")
	}
}

// TestLevelsAndGranularity: SUMMARY leaves DETAILED metrics out, NONE sends nothing, STREAM
// granularity no ShardId, GLOBAL no StreamName.
func TestLevelsAndGranularity(t *testing.T) {
	events := func(m *Metrics) {
		m.OnRecordBuffered(kpl.RecordBufferedEvent{Stream: "s", Pending: 1})                       // detailed
		m.OnRecordDone(kpl.RecordDoneEvent{Stream: "s", ShardID: "a", Attempts: 1})                // UserRecordsPut summary
		m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "a", Records: 3, Bytes: 30}) // summary
		m.OnLeaseTakeRound(lease.TakeRoundEvent{Table: "t", Leases: 4, Workers: 2, Target: 2, Taken: 1})
	}
	for _, tc := range []struct {
		level      Level
		gran       Granularity
		want, lack []string
	}{
		{LevelSummary, GranularityShard,
			[]string{"UserRecordsPut{ShardId=a,StreamName=s}", "RecordsProcessed{Operation=ProcessTask,ShardId=a,StreamName=s}", "TakenLeases{Operation=TakeLeases}"},
			[]string{"UserRecordsReceived{}", "TotalLeases{Operation=TakeLeases}"}},
		{LevelDetailed, GranularityStream,
			[]string{"UserRecordsReceived{StreamName=s}", "RecordsProcessed{Operation=ProcessTask,StreamName=s}", "TotalLeases{Operation=TakeLeases}"},
			[]string{"UserRecordsPut{ShardId=a,StreamName=s}", "RecordsProcessed{Operation=ProcessTask,ShardId=a,StreamName=s}"}},
		{LevelDetailed, GranularityGlobal,
			[]string{"UserRecordsPut{}", "RecordsProcessed{Operation=ProcessTask}"},
			[]string{"UserRecordsPut{StreamName=s}", "RecordsProcessed{Operation=ProcessTask,StreamName=s}"}},
	} {
		f := newFakeCW(t)
		m, err := New(f.client(), Config{Level: tc.level, Granularity: tc.gran, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		events(m)
		closeOK(t, m)
		got := byKey(f.snapshot())
		for _, k := range tc.want {
			if _, ok := got[k]; !ok {
				t.Errorf("level %d granularity %d: no %s", tc.level, tc.gran, k)
			}
		}
		for _, k := range tc.lack {
			if _, ok := got[k]; ok {
				t.Errorf("level %d granularity %d: %s sent", tc.level, tc.gran, k)
			}
		}
	}
	f := newFakeCW(t)
	m, err := New(f.client(), Config{Level: LevelNone})
	if err != nil {
		t.Fatal(err)
	}
	events(m)
	closeOK(t, m)
	if n := len(f.snapshot()); n != 0 || m.Calls() != 0 {
		t.Errorf("LevelNone: %d calls", n)
	}
}

// TestBatchLimits: 2,600 datums go as three requests of at most 1,000 datums, every datum once.
func TestBatchLimits(t *testing.T) {
	f := newFakeCW(t)
	m, err := New(f.client(), Config{Granularity: GranularityGlobal, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2600
	for i := range n {
		m.OnEntryError(kpl.EntryErrorEvent{Stream: "s", Code: fmt.Sprintf("Code%04d-%s", i, strings.Repeat("x", 200))})
	}
	closeOK(t, m)
	calls := f.snapshot()
	total := 0
	for _, c := range calls {
		total += len(c.datums)
	}
	// n ErrorsByCode datums and one AllErrors.
	if total != n+1 || m.Sent() != n+1 || len(calls) != 3 {
		t.Errorf("%d calls carrying %d datums (Sent %d), want 3 carrying %d", len(calls), total, m.Sent(), n+1)
	}
	if len(byKey(calls)) != n+1 {
		t.Errorf("%d distinct datums, want %d", len(byKey(calls)), n+1)
	}
}

// TestBatchLenBytes: a batch is cut before its estimated size passes MaxBatchBytes.
func TestBatchLenBytes(t *testing.T) {
	big := types.MetricDatum{MetricName: aws.String(strings.Repeat("m", 255)), Dimensions: slices.Repeat(
		[]types.Dimension{{Name: aws.String(strings.Repeat("n", 255)), Value: aws.String(strings.Repeat("v", 1024))}}, 30)}
	q := slices.Repeat([]types.MetricDatum{big}, 100)
	n := batchLen(q, 10)
	if n >= 100 || n < 1 {
		t.Fatalf("batchLen of 100 datums of ~%d bytes = %d", datumSize(big), n)
	}
	if size := n * datumSize(big); size > MaxBatchBytes {
		t.Errorf("batch of %d datums estimated at %d bytes > %d", n, size, MaxBatchBytes)
	}
}

// TestBoundedQueue: while CloudWatch refuses, datums wait in a queue bounded by MaxQueue, the
// oldest dropped; once it accepts, the rest is sent (at Close here).
func TestBoundedQueue(t *testing.T) {
	f := newFakeCW(t)
	f.setStatus(http.StatusInternalServerError)
	tick := make(chan time.Time) // unbuffered: a send returns once the loop is back waiting
	m, err := newMetrics(f.client(), Config{Granularity: GranularityGlobal, MaxQueue: 10}, tick)
	if err != nil {
		t.Fatal(err)
	}
	round := func(r int) {
		for i := range 6 {
			m.OnCorruptRecord(kcl.CorruptEvent{Stream: "s", ShardID: fmt.Sprintf("r%d-%d", r, i)})
			m.OnRecordFailed(agent.RecordFailedEvent{Stream: fmt.Sprintf("r%d-%d", r, i)})
		}
		// The first send returns as soon as the loop takes it, perhaps before its collect: the
		// next round's events could still land in this round's aggregate (CorruptRecords of two
		// rounds as one datum). The second returns once that collect and flush are done.
		tick <- time.Now()
		tick <- time.Now()
	}
	// Round r queues 7 datums: CorruptRecords{Operation} and six RecordsFailed{Destination}.
	round(1)
	round(2)
	round(3)
	tick <- time.Now() // round 3 has been collected and its flush failed
	if d := m.Dropped(); d != 11 {
		t.Errorf("Dropped = %d after 21 datums into a queue of 10, want 11", d)
	}
	f.setStatus(0)
	closeOK(t, m)
	got := byKey(f.snapshot())
	if len(got) != 10 || m.Sent() != 10 {
		t.Errorf("sent %d datums (%d distinct), want the 10 newest", m.Sent(), len(got))
	}
	for i := range 6 {
		if _, ok := got[fmt.Sprintf("RecordsFailed{Destination=r3-%d}", i)]; !ok {
			t.Errorf("newest datum RecordsFailed r3-%d not sent", i)
		}
		if _, ok := got[fmt.Sprintf("RecordsFailed{Destination=r1-%d}", i)]; ok {
			t.Errorf("oldest datum RecordsFailed r1-%d sent; it should have been dropped", i)
		}
	}
}

// TestCloseGivesUp: Close returns an error counting what it could not send when CloudWatch keeps
// refusing, and hooks after Close are ignored.
func TestCloseGivesUp(t *testing.T) {
	f := newFakeCW(t)
	f.setStatus(http.StatusServiceUnavailable)
	m, err := New(f.client(), Config{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m.OnLeaseLost(lease.LostEvent{Table: "t", Err: errors.New("renewals timed out")})
	err = m.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 metric data not sent") {
		t.Fatalf("Close = %v", err)
	}
	if m.Dropped() != 1 {
		t.Errorf("Dropped = %d", m.Dropped())
	}
	m.OnLeaseLost(lease.LostEvent{Table: "t"})
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	f := newFakeCW(t)
	for _, cfg := range []Config{
		{Level: Level(7)},
		{Granularity: Granularity(-1)},
		{Interval: -time.Second},
		{Dimensions: []types.Dimension{{Name: aws.String("Host")}}},
	} {
		_, err := New(f.client(), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("New(%+v) = %v, want a *ConfigError", cfg, err)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Error(`ParseLevel("verbose") succeeded`)
	}
	if l, err := ParseLevel("SUMMARY"); err != nil || l != LevelSummary {
		t.Errorf("ParseLevel(SUMMARY) = %v, %v", l, err)
	}
	if g, err := ParseGranularity("stream"); err != nil || g != GranularityStream {
		t.Errorf("ParseGranularity(stream) = %v, %v", g, err)
	}
}

// TestConcurrentHooks: hooks called from many goroutines while the loop collects and sends lose
// no sample: the statistic sets sent add up to every call.
func TestConcurrentHooks(t *testing.T) {
	f := newFakeCW(t)
	tick := make(chan time.Time)
	m, err := newMetrics(f.client(), Config{}, tick)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.OnRecordDone(kpl.RecordDoneEvent{Stream: "s", ShardID: fmt.Sprintf("shard-%d", g), Bytes: i, Attempts: 1})
			}
		})
	}
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		for range 5 {
			tick <- time.Now()
		}
	}()
	wg.Wait()
	<-ticked
	closeOK(t, m)
	got := byKey(f.snapshot())
	if d := got["UserRecordsPut{}"]; d.sum != goroutines*each {
		t.Errorf("UserRecordsPut{} = %v, want %d", d.sum, goroutines*each)
	}
	for g := range goroutines {
		key := fmt.Sprintf("UserRecordsDataPut{ShardId=shard-%d,StreamName=s}", g)
		if d := got[key]; d.sum != each*(each-1)/2 || d.sampleCount != each || d.max != each-1 {
			t.Errorf("%s = sum %v count %v max %v", key, d.sum, d.sampleCount, d.max)
		}
	}
}

// TestWorkerIdentifier: with Config.WorkerIdentifier set, the per-worker operations of the Java
// KCL (RenewAllLeases, TakeLeases) carry the WorkerIdentifier dimension and the per-shard ones
// (ProcessTask, Checkpoint, ...) do not; without it no datum has one.
func TestWorkerIdentifier(t *testing.T) {
	events := func(m *Metrics) {
		m.OnLeaseRenewed(lease.RenewEvent{Table: "t", Key: "shardId-0", Latency: 4 * time.Millisecond})
		m.OnLeaseRenewed(lease.RenewEvent{Table: "t", Key: "shardId-1", Err: fmt.Errorf("renew: %w", lease.ErrLeaseLost)})
		m.OnLeaseLost(lease.LostEvent{Table: "t", Err: errors.New("renewals timed out")})
		m.OnLeaseTakeRound(lease.TakeRoundEvent{Table: "t", Leases: 4, Workers: 2, Target: 2, Taken: 2, Available: 2})
		m.OnLeaseTaken(lease.TakenEvent{Table: "t", Reason: lease.TakenExpired})
		m.OnCurrentLeases(kcl.CurrentLeasesEvent{Stream: "s", Leases: 2})
		m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "shardId-0", Records: 3, Bytes: 30})
		m.OnLeaseCheckpoint(lease.CheckpointEvent{Table: "t", Key: "shardId-0"})
		m.OnLeaseReleased(lease.ReleasedEvent{Table: "t"})
	}
	f := newFakeCW(t)
	m, err := New(f.client(), Config{WorkerIdentifier: "host-a", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	events(m)
	closeOK(t, m)
	got := byKey(f.snapshot())
	for _, k := range []string{
		"RenewLease.Success{Operation=RenewAllLeases,WorkerIdentifier=host-a}",
		"RenewLease.Time{Operation=RenewAllLeases,WorkerIdentifier=host-a}",
		"CurrentLeases{Operation=RenewAllLeases,WorkerIdentifier=host-a}",
		"CurrentLeases{Operation=RenewAllLeases,StreamName=s,WorkerIdentifier=host-a}",
		"TakenLeases{Operation=TakeLeases,WorkerIdentifier=host-a}",
		"NumWorkers{Operation=TakeLeases,WorkerIdentifier=host-a}",
		"Time{Operation=TakeLeases,WorkerIdentifier=host-a}",
		"LeaseTaken{Operation=TakeLeases,Reason=expired,WorkerIdentifier=host-a}",
		"RecordsProcessed{Operation=ProcessTask,ShardId=shardId-0,StreamName=s}",
		"Success{Operation=Checkpoint}",
		"LeasesReleased{Operation=ShutdownTask}",
	} {
		if _, ok := got[k]; !ok {
			t.Errorf("no datum %s", k)
		}
	}
	if d := got["LostLeases{Operation=RenewAllLeases,WorkerIdentifier=host-a}"]; d.sum != 2 {
		t.Errorf("LostLeases with WorkerIdentifier sum %v, want 2 (one lost on renewal, one timed out)", d.sum)
	}
	for k, d := range got {
		op := d.dims["Operation"]
		perWorker := op == "RenewAllLeases" || op == "TakeLeases"
		if _, has := d.dims["WorkerIdentifier"]; has != perWorker {
			t.Errorf("%s: WorkerIdentifier dimension %v, want %v (Operation %q)", k, has, perWorker, op)
		}
	}

	f = newFakeCW(t)
	m, err = New(f.client(), Config{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	events(m)
	closeOK(t, m)
	for k, d := range byKey(f.snapshot()) {
		if _, has := d.dims["WorkerIdentifier"]; has {
			t.Errorf("%s has a WorkerIdentifier without Config.WorkerIdentifier", k)
		}
	}
	if _, err := New(f.client(), Config{WorkerIdentifier: strings.Repeat("w", 1025)}); err == nil {
		t.Error("a 1025-character WorkerIdentifier was accepted (CloudWatch allows 1024)")
	}
}
