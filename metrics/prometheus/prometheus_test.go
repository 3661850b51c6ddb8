package prometheus_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
	promadapter "github.com/shardwise/shardwise/metrics/prometheus"
)

// TestEveryHookAsserted reads kpl, kcl, lease and agent and fails when one of them declares a
// Hook interface that prometheus.go does not assert for *Metrics.
func TestEveryHookAsserted(t *testing.T) {
	src, err := os.ReadFile("prometheus.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kpl", "kcl", "lease", "agent"} {
		n := 0
		for _, name := range hookInterfaces(t, filepath.Join("..", "..", pkg)) {
			n++
			if !strings.Contains(string(src), "_ "+pkg+"."+name+" ") {
				t.Errorf("%s.%s is not asserted for *Metrics in prometheus.go", pkg, name)
			}
		}
		if n == 0 {
			t.Errorf("no Hook interfaces found in %s", pkg)
		}
	}
}

func hookInterfaces(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, sp := range g.Specs {
				ts := sp.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() && strings.HasPrefix(ts.Name.Name, "Hook") {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	return names
}

func newMetrics(t *testing.T, opts promadapter.Options) (*promadapter.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := promadapter.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestKPLMetrics(t *testing.T) {
	m, reg := newMetrics(t, promadapter.Options{})
	for i := range 3 {
		m.OnRecordBuffered(kpl.RecordBufferedEvent{Stream: "orders", Bytes: 10, Pending: i + 1})
	}
	m.OnKinesisRecordPut(kpl.KinesisRecordEvent{Stream: "orders", ShardID: "shardId-000000000000", UserRecords: 2, Bytes: 30, Aggregated: true})
	m.OnPutRecords(kpl.PutRecordsEvent{Stream: "orders", KinesisRecords: 2, UserRecords: 3, Failed: 1, Throttled: 1, Latency: 20 * time.Millisecond})
	m.OnEntryError(kpl.EntryErrorEvent{Stream: "orders", ShardID: "shardId-000000000001", Code: "ProvisionedThroughputExceededException", UserRecords: 1, Retrying: true})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", ShardID: "shardId-000000000000", Bytes: 10, Attempts: 1, BufferingTime: 5 * time.Millisecond})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", ShardID: "shardId-000000000000", Bytes: 12, Attempts: 3})
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", Attempts: 4, Code: "ProvisionedThroughputExceededException", Err: errors.New("expired")})
	m.OnShardMapRefreshed(kpl.ShardMapEvent{Stream: "orders", OpenShards: 4, Reason: "initial"})
	m.OnDistributionChanged(kpl.DistributionEvent{Stream: "orders", Strategy: "AUTO", Predicting: true})

	want := `
# HELP shardwise_kpl_user_records_put_total User records delivered (KPL UserRecordsPut).
# TYPE shardwise_kpl_user_records_put_total counter
shardwise_kpl_user_records_put_total{stream="orders"} 2
# HELP shardwise_kpl_user_records_data_put_bytes_total Bytes of user records delivered, partition keys included (KPL UserRecordsDataPut).
# TYPE shardwise_kpl_user_records_data_put_bytes_total counter
shardwise_kpl_user_records_data_put_bytes_total{stream="orders"} 22
# HELP shardwise_kpl_user_records_failed_total User records resolved with an error, by last error code (KPL UserRecordExpired and the like).
# TYPE shardwise_kpl_user_records_failed_total counter
shardwise_kpl_user_records_failed_total{code="ProvisionedThroughputExceededException",stream="orders"} 1
# HELP shardwise_kpl_user_records_received_total User records accepted by the producer (KPL UserRecordsReceived).
# TYPE shardwise_kpl_user_records_received_total counter
shardwise_kpl_user_records_received_total{stream="orders"} 3
# HELP shardwise_kpl_user_records_pending User records held by the producer, not resolved yet (KPL UserRecordsPending).
# TYPE shardwise_kpl_user_records_pending gauge
shardwise_kpl_user_records_pending{stream="orders"} 3
# HELP shardwise_kpl_kinesis_records_put_total Kinesis records delivered, aggregates counting once (KPL KinesisRecordsPut).
# TYPE shardwise_kpl_kinesis_records_put_total counter
shardwise_kpl_kinesis_records_put_total{stream="orders"} 1
# HELP shardwise_kpl_all_errors_total Failed PutRecords entries, retried or not, entries of failed calls included (KPL AllErrors).
# TYPE shardwise_kpl_all_errors_total counter
shardwise_kpl_all_errors_total{stream="orders"} 1
# HELP shardwise_kpl_errors_by_code_total Failed PutRecords entries by error code (KPL ErrorsByCode).
# TYPE shardwise_kpl_errors_by_code_total counter
shardwise_kpl_errors_by_code_total{code="ProvisionedThroughputExceededException",stream="orders"} 1
# HELP shardwise_kpl_put_records_requests_total PutRecords calls, by result: ok, partial (some entries failed) or error (the call failed).
# TYPE shardwise_kpl_put_records_requests_total counter
shardwise_kpl_put_records_requests_total{result="partial",stream="orders"} 1
# HELP shardwise_kpl_open_shards Open shards in the producer's shard map.
# TYPE shardwise_kpl_open_shards gauge
shardwise_kpl_open_shards{stream="orders"} 4
# HELP shardwise_kpl_shard_prediction 1 while aggregation and shard prediction are on, 0 while the stream distributes records itself.
# TYPE shardwise_kpl_shard_prediction gauge
shardwise_kpl_shard_prediction{stream="orders"} 1
`
	names := []string{"shardwise_kpl_user_records_put_total", "shardwise_kpl_user_records_data_put_bytes_total",
		"shardwise_kpl_user_records_failed_total", "shardwise_kpl_user_records_received_total", "shardwise_kpl_user_records_pending",
		"shardwise_kpl_kinesis_records_put_total", "shardwise_kpl_all_errors_total", "shardwise_kpl_errors_by_code_total",
		"shardwise_kpl_put_records_requests_total", "shardwise_kpl_open_shards", "shardwise_kpl_shard_prediction"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// RetriesPerRecord: attempts 1, 3 and 4 are 0, 2 and 3 retries; BufferingTime only for sent records.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "shardwise_kpl_retries_per_record":
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 3 || h.GetSampleSum() != 5 {
				t.Errorf("retries_per_record: count %d sum %v, want 3 and 5", h.GetSampleCount(), h.GetSampleSum())
			}
		case "shardwise_kpl_request_time_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.02 {
				t.Errorf("request_time_seconds: count %d sum %v, want 1 and 0.02", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}

func TestShardLabelsOptIn(t *testing.T) {
	m, reg := newMetrics(t, promadapter.Options{ShardLabels: true})
	m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "shardId-1", Records: 5, Bytes: 50, Duration: time.Millisecond})
	m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "shardId-2", Records: 2, Bytes: 20})
	m.OnMillisBehindLatest(kcl.BehindEvent{Stream: "s", ShardID: "shardId-1", MillisBehindLatest: 100})
	m.OnMillisBehindLatest(kcl.BehindEvent{Stream: "s", ShardID: "shardId-2", MillisBehindLatest: 900})
	want := `
# HELP shardwise_kcl_records_processed_total User records given to ProcessRecords (KCL RecordsProcessed).
# TYPE shardwise_kcl_records_processed_total counter
shardwise_kcl_records_processed_total{shard_id="shardId-1",stream="s"} 5
shardwise_kcl_records_processed_total{shard_id="shardId-2",stream="s"} 2
# HELP shardwise_kcl_millis_behind_latest How far behind the tip of the stream the consumer is, in milliseconds; without shard labels the largest of the stream's shards (KCL MillisBehindLatest).
# TYPE shardwise_kcl_millis_behind_latest gauge
shardwise_kcl_millis_behind_latest{shard_id="shardId-1",stream="s"} 100
shardwise_kcl_millis_behind_latest{shard_id="shardId-2",stream="s"} 900
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shardwise_kcl_records_processed_total", "shardwise_kcl_millis_behind_latest"); err != nil {
		t.Error(err)
	}
	m.OnShardEnded(kcl.ShardEndedEvent{Stream: "s", ShardID: "shardId-2"})
	if n := seriesCount(t, reg, "shardwise_kcl_millis_behind_latest"); n != 1 {
		t.Errorf("after shard end: %d millis_behind_latest series, want 1", n)
	}
}

// seriesCount is the number of series of the family name in reg.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestKCLMetrics(t *testing.T) {
	m, reg := newMetrics(t, promadapter.Options{})
	m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "a", Records: 5, Bytes: 50})
	m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "b", Records: 3, Bytes: 30})
	m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: "b", Records: 3, Err: errors.New("processor failed")})
	m.OnMillisBehindLatest(kcl.BehindEvent{Stream: "s", ShardID: "a", MillisBehindLatest: 700})
	m.OnMillisBehindLatest(kcl.BehindEvent{Stream: "s", ShardID: "b", MillisBehindLatest: 200})
	m.OnCurrentLeases(kcl.CurrentLeasesEvent{Stream: "s", Leases: 2})
	m.OnShardStarted(kcl.ShardEvent{Stream: "s", ShardID: "a"})
	m.OnExpiredIterator(kcl.ShardEvent{Stream: "s", ShardID: "a"})
	m.OnGetRecordsThrottled(kcl.ThrottledEvent{Stream: "s", ShardID: "a", Backoff: time.Second})
	m.OnRecordsFiltered(kcl.FilteredEvent{Stream: "s", ShardID: "a", Records: 4})
	m.OnCorruptRecord(kcl.CorruptEvent{Stream: "s", ShardID: "a"})
	m.OnConsumerRegistrationRefused(kcl.RegistrationEvent{Stream: "s", Consumer: "c", Refusal: 1})
	m.OnRecordDropped(kcl.DroppedEvent{Stream: "s", ShardID: "a", Reason: "hash key out of range"})

	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch {
			case mt.GetCounter() != nil:
				got[mf.GetName()] += mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				got[mf.GetName()] += mt.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"shardwise_kcl_records_processed_total":              8,
		"shardwise_kcl_data_bytes_processed_total":           80,
		"shardwise_kcl_process_errors_total":                 1,
		"shardwise_kcl_millis_behind_latest":                 700, // the stream's largest
		"shardwise_kcl_current_leases":                       2,
		"shardwise_kcl_shards_started_total":                 1,
		"shardwise_kcl_expired_iterators_total":              1,
		"shardwise_kcl_get_records_throttled_total":          1,
		"shardwise_kcl_records_filtered_total":               4,
		"shardwise_kcl_corrupt_records_total":                1,
		"shardwise_kcl_consumer_registration_refusals_total": 1,
		"shardwise_kcl_records_dropped_total":                1,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %v, want %v", name, got[name], w)
		}
	}
	// Shard a lost: the stream's figure is b's now.
	m.OnShardLeaseLost(kcl.ShardLeaseLostEvent{Stream: "s", ShardID: "a"})
	g := testutil.ToFloat64(gaugeOf(t, reg, "shardwise_kcl_millis_behind_latest"))
	if g != 200 {
		t.Errorf("millis_behind_latest after shard a lost = %v, want 200", g)
	}
}

// gaugeOf returns the value of the one series of a gauge family as a Collector.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if len(mf.GetMetric()) != 1 {
				t.Fatalf("%s has %d series", name, len(mf.GetMetric()))
			}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("%s not gathered", name)
	return nil
}

func TestLeaseAndAgentMetrics(t *testing.T) {
	m, reg := newMetrics(t, promadapter.Options{Namespace: "app"})
	m.OnLeaseRenewed(lease.RenewEvent{Table: "t", Key: "k", Latency: time.Millisecond})
	m.OnLeaseRenewed(lease.RenewEvent{Table: "t", Key: "k", Err: lease.ErrLeaseLost})
	m.OnLeaseTaken(lease.TakenEvent{Table: "t", Reason: lease.TakenUnowned})
	m.OnLeaseLost(lease.LostEvent{Table: "t"})
	m.OnLeaseReleased(lease.ReleasedEvent{Table: "t"})
	m.OnLeaseCheckpoint(lease.CheckpointEvent{Table: "t", Err: errors.New("throttled")})
	m.OnLeaseTakeRound(lease.TakeRoundEvent{Table: "t", Leases: 8, Workers: 2, Target: 4, Held: 3, Available: 1, Taken: 1, Stolen: 1})
	m.OnRecordFailed(agent.RecordFailedEvent{FilePattern: "/var/log/*.log", Stream: "logs"})
	m.OnFileEvent(agent.FileEvent{FilePattern: "/var/log/*.log", Stream: "logs", Kind: agent.FileTailing})
	m.OnCheckpointWritten(agent.CheckpointEvent{Files: 2})
	m.OnFlowSend(agent.FlowSendEvent{FilePattern: "/var/log/*.log", Stream: "logs", Records: 10, Failed: 2})
	m.OnFlowSend(agent.FlowSendEvent{FilePattern: "/var/log/*.log", Stream: "logs", Records: 2, ServiceError: true})
	for range 8 {
		m.OnFlowDelivered(agent.FlowDeliveredEvent{FilePattern: "/var/log/*.log", Stream: "logs", Bytes: 100})
	}
	want := `
# HELP app_lease_renewals_total Lease renewal attempts, by result: ok, lost or error (KCL RenewAllLeases).
# TYPE app_lease_renewals_total counter
app_lease_renewals_total{result="lost",table="t"} 1
app_lease_renewals_total{result="ok",table="t"} 1
# HELP app_lease_leases_taken_total Leases taken, by reason (KCL TakenLeases).
# TYPE app_lease_leases_taken_total counter
app_lease_leases_taken_total{reason="` + lease.TakenUnowned.String() + `",table="t"} 1
# HELP app_lease_checkpoints_total Checkpoint writes, by result: ok or error.
# TYPE app_lease_checkpoints_total counter
app_lease_checkpoints_total{result="error",table="t"} 1
# HELP app_lease_total_leases Leases in the table at the last round (KCL TotalLeases).
# TYPE app_lease_total_leases gauge
app_lease_total_leases{table="t"} 8
# HELP app_agent_hook_record_send_attempts_total Records carried by send calls, retries included (Kinesis Agent RecordSendAttempts).
# TYPE app_agent_hook_record_send_attempts_total counter
app_agent_hook_record_send_attempts_total{file_pattern="/var/log/*.log",stream="logs"} 12
# HELP app_agent_hook_service_errors_total Send calls that failed as a whole (Kinesis Agent ServiceErrors).
# TYPE app_agent_hook_service_errors_total counter
app_agent_hook_service_errors_total{file_pattern="/var/log/*.log",stream="logs"} 1
# HELP app_agent_hook_records_sent_total Records delivered (Kinesis Agent RecordsSent).
# TYPE app_agent_hook_records_sent_total counter
app_agent_hook_records_sent_total{file_pattern="/var/log/*.log",stream="logs"} 8
# HELP app_agent_hook_bytes_sent_total Data bytes delivered (Kinesis Agent BytesSent).
# TYPE app_agent_hook_bytes_sent_total counter
app_agent_hook_bytes_sent_total{file_pattern="/var/log/*.log",stream="logs"} 800
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "app_lease_renewals_total", "app_lease_leases_taken_total",
		"app_lease_checkpoints_total", "app_lease_total_leases", "app_agent_hook_record_send_attempts_total",
		"app_agent_hook_service_errors_total", "app_agent_hook_records_sent_total", "app_agent_hook_bytes_sent_total"); err != nil {
		t.Error(err)
	}
}

// TestRegisterTwice: a second Metrics in the same registry and namespace is refused with an error.
func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := promadapter.New(reg, promadapter.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := promadapter.New(reg, promadapter.Options{}); err == nil {
		t.Fatal("second New in the same registry succeeded")
	}
	if _, err := promadapter.New(reg, promadapter.Options{Namespace: "other"}); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
}

// TestConcurrentHooks: hooks from many goroutines, gathered meanwhile, count every call; the
// stream's MillisBehindLatest is the largest of its shards'.
func TestConcurrentHooks(t *testing.T) {
	m, reg := newMetrics(t, promadapter.Options{})
	const goroutines, each = 4, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.OnRecordsProcessed(kcl.ProcessedEvent{Stream: "s", ShardID: fmt.Sprint(g), Records: 1, Bytes: 10})
				m.OnMillisBehindLatest(kcl.BehindEvent{Stream: "s", ShardID: fmt.Sprint(g), MillisBehindLatest: int64(g*1000 + i)})
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	want := fmt.Sprintf(`
# HELP shardwise_kcl_records_processed_total User records given to ProcessRecords (KCL RecordsProcessed).
# TYPE shardwise_kcl_records_processed_total counter
shardwise_kcl_records_processed_total{stream="s"} %d
# HELP shardwise_kcl_millis_behind_latest How far behind the tip of the stream the consumer is, in milliseconds; without shard labels the largest of the stream's shards (KCL MillisBehindLatest).
# TYPE shardwise_kcl_millis_behind_latest gauge
shardwise_kcl_millis_behind_latest{stream="s"} %d
`, goroutines*each, (goroutines-1)*1000+each-1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shardwise_kcl_records_processed_total", "shardwise_kcl_millis_behind_latest"); err != nil {
		t.Error(err)
	}
}
