package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardwise/shardwise/internal/promtext"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// defaultUnhealthyAfter is the --unhealthy-after default of put and consume (as shardwise-agent's).
const defaultUnhealthyAfter = 5 * time.Minute

// cliMetrics is what put and consume serve at --metrics-addr: the hooks of their producer, worker
// and lease manager counted under the names of the metrics/prometheus adapter (written by
// internal/promtext: the root module does not require client_golang), and the health of the run.
// Its methods are safe for concurrent use.
type cliMetrics struct {
	stream string
	now    func() time.Time
	start  time.Time

	// put (kpl)
	received, put, putBytes, failed    atomic.Int64
	kinesisRecords, kinesisBytes       atomic.Int64
	requests, requestErrors, allErrors atomic.Int64
	pending                            atomic.Int64
	lastResolved                       atomic.Int64 // unix nanos of the last record delivered (0: none)
	waitingSince                       atomic.Int64 // unix nanos since records have been pending (0: none)

	// consume (kcl, lease)
	processed, processedBytes, processErrors atomic.Int64
	currentLeases                            atomic.Int64
	leasesTaken, leasesLost, renewErrors     atomic.Int64
	lastLeaseOK                              atomic.Int64 // unix nanos of the last renewal or take round that reached the table
	mu                                       sync.Mutex
	behind                                   map[string]int64 // shard -> MillisBehindLatest
	fatal                                    string           // why the worker cannot go on ("" while it can)
}

func newCLIMetrics(stream string, now func() time.Time) *cliMetrics {
	if now == nil {
		now = time.Now
	}
	m := &cliMetrics{stream: stream, now: now, start: now(), behind: map[string]int64{}}
	return m
}

func (m *cliMetrics) stamp(v *atomic.Int64) { v.Store(m.now().UnixNano()) }

// kpl hooks (put)

func (m *cliMetrics) OnRecordBuffered(e kpl.RecordBufferedEvent) {
	m.received.Add(1)
	m.pending.Store(int64(e.Pending))
	m.waitingSince.CompareAndSwap(0, m.now().UnixNano())
}

func (m *cliMetrics) OnRecordDone(e kpl.RecordDoneEvent) {
	if n := m.pending.Add(-1); n <= 0 {
		m.pending.Store(0)
		m.waitingSince.Store(0)
	}
	if e.Err != nil {
		m.failed.Add(1)
		return
	}
	m.put.Add(1)
	m.putBytes.Add(int64(e.Bytes))
	m.stamp(&m.lastResolved)
	if m.pending.Load() > 0 {
		m.stamp(&m.waitingSince) // progress: the wait starts again
	}
}

func (m *cliMetrics) OnKinesisRecordPut(e kpl.KinesisRecordEvent) {
	m.kinesisRecords.Add(1)
	m.kinesisBytes.Add(int64(e.Bytes))
}

func (m *cliMetrics) OnPutRecords(e kpl.PutRecordsEvent) {
	m.requests.Add(1)
	if e.Err != nil {
		m.requestErrors.Add(1)
	}
}

func (m *cliMetrics) OnEntryError(kpl.EntryErrorEvent) { m.allErrors.Add(1) }

// kcl hooks (consume)

func (m *cliMetrics) OnRecordsProcessed(e kcl.ProcessedEvent) {
	if e.Err != nil {
		m.processErrors.Add(1)
		return
	}
	m.processed.Add(int64(e.Records))
	m.processedBytes.Add(e.Bytes)
}

func (m *cliMetrics) OnMillisBehindLatest(e kcl.BehindEvent) {
	m.mu.Lock()
	m.behind[e.ShardID] = e.MillisBehindLatest
	m.mu.Unlock()
}

func (m *cliMetrics) forget(shard string) {
	m.mu.Lock()
	delete(m.behind, shard)
	m.mu.Unlock()
}

func (m *cliMetrics) OnShardLeaseLost(e kcl.ShardLeaseLostEvent) { m.forget(e.ShardID) }
func (m *cliMetrics) OnShardEnded(e kcl.ShardEndedEvent)         { m.forget(e.ShardID) }

func (m *cliMetrics) OnCurrentLeases(e kcl.CurrentLeasesEvent) {
	m.currentLeases.Store(int64(e.Leases))
}

func (m *cliMetrics) OnConsumerRegistrationRefused(e kcl.RegistrationEvent) {
	if e.GaveUp {
		m.mu.Lock()
		m.fatal = fmt.Sprintf("enhanced fan-out consumer %s refused: %v", e.Consumer, e.Err)
		m.mu.Unlock()
	}
}

// lease hooks (consume)

func (m *cliMetrics) OnLeaseRenewed(e lease.RenewEvent) {
	switch {
	case e.Err == nil || errors.Is(e.Err, lease.ErrLeaseLost):
		m.stamp(&m.lastLeaseOK) // the table answered
	default:
		m.renewErrors.Add(1)
	}
}

func (m *cliMetrics) OnLeaseTakeRound(e lease.TakeRoundEvent) {
	if e.Err == nil {
		m.stamp(&m.lastLeaseOK)
	}
}

func (m *cliMetrics) OnLeaseTaken(lease.TakenEvent) { m.leasesTaken.Add(1) }
func (m *cliMetrics) OnLeaseLost(lease.LostEvent)   { m.leasesLost.Add(1) }

var (
	_ kpl.HookRecordBuffered       = (*cliMetrics)(nil)
	_ kpl.HookRecordDone           = (*cliMetrics)(nil)
	_ kpl.HookKinesisRecordPut     = (*cliMetrics)(nil)
	_ kpl.HookPutRecords           = (*cliMetrics)(nil)
	_ kpl.HookEntryError           = (*cliMetrics)(nil)
	_ kcl.HookRecordsProcessed     = (*cliMetrics)(nil)
	_ kcl.HookMillisBehindLatest   = (*cliMetrics)(nil)
	_ kcl.HookCurrentLeases        = (*cliMetrics)(nil)
	_ kcl.HookShardLeaseLost       = (*cliMetrics)(nil)
	_ kcl.HookShardEnded           = (*cliMetrics)(nil)
	_ kcl.HookConsumerRegistration = (*cliMetrics)(nil)
	_ lease.HookLeaseRenewed       = (*cliMetrics)(nil)
	_ lease.HookLeaseTakeRound     = (*cliMetrics)(nil)
	_ lease.HookLeaseTaken         = (*cliMetrics)(nil)
	_ lease.HookLeaseLost          = (*cliMetrics)(nil)
)

// writeProducer and writeConsumer write the figures of put and consume.
func (m *cliMetrics) writeProducer(w promtext.Writer) {
	counter := func(name, help string, v int64) {
		w.Family(name, "counter", help)
		w.Sample(name, float64(v), "stream", m.stream)
	}
	counter("shardwise_kpl_user_records_received_total", "User records accepted by the producer (KPL UserRecordsReceived).", m.received.Load())
	counter("shardwise_kpl_user_records_put_total", "User records delivered (KPL UserRecordsPut).", m.put.Load())
	counter("shardwise_kpl_user_records_data_put_bytes_total", "Bytes of user records delivered (KPL UserRecordsDataPut).", m.putBytes.Load())
	counter("shardwise_kpl_user_records_failed_total", "User records resolved with an error.", m.failed.Load())
	counter("shardwise_kpl_kinesis_records_put_total", "Kinesis records delivered (KPL KinesisRecordsPut).", m.kinesisRecords.Load())
	counter("shardwise_kpl_kinesis_records_data_put_bytes_total", "Bytes of Kinesis records delivered (KPL KinesisRecordsDataPut).", m.kinesisBytes.Load())
	counter("shardwise_kpl_put_records_calls_total", "PutRecords calls.", m.requests.Load())
	counter("shardwise_kpl_put_records_call_errors_total", "PutRecords calls that failed as a whole.", m.requestErrors.Load())
	counter("shardwise_kpl_all_errors_total", "Failed PutRecords entries, retried or not (KPL AllErrors).", m.allErrors.Load())
	w.Family("shardwise_kpl_user_records_pending", "gauge", "User records held by the producer (KPL UserRecordsPending).")
	w.Sample("shardwise_kpl_user_records_pending", float64(m.pending.Load()), "stream", m.stream)
}

func (m *cliMetrics) writeConsumer(w promtext.Writer) {
	counter := func(name, help string, v int64) {
		w.Family(name, "counter", help)
		w.Sample(name, float64(v), "stream", m.stream)
	}
	counter("shardwise_kcl_records_processed_total", "User records processed (KCL RecordsProcessed).", m.processed.Load())
	counter("shardwise_kcl_data_bytes_processed_total", "Bytes of the records processed (KCL DataBytesProcessed).", m.processedBytes.Load())
	counter("shardwise_kcl_process_errors_total", "Batches whose processing failed.", m.processErrors.Load())
	w.Family("shardwise_kcl_current_leases", "gauge", "Shards this worker processes (KCL CurrentLeases).")
	w.Sample("shardwise_kcl_current_leases", float64(m.currentLeases.Load()), "stream", m.stream)
	w.Family("shardwise_kcl_millis_behind_latest", "gauge", "How far behind the tip of each shard the consumer is, in milliseconds (KCL MillisBehindLatest).")
	m.mu.Lock()
	behind := maps.Clone(m.behind)
	m.mu.Unlock()
	shards := slices.Collect(maps.Keys(behind))
	sort.Strings(shards)
	for _, s := range shards {
		w.Sample("shardwise_kcl_millis_behind_latest", float64(behind[s]), "stream", m.stream, "shard_id", s)
	}
	w.Family("shardwise_lease_leases_taken_total", "counter", "Leases taken (KCL TakenLeases).")
	w.Sample("shardwise_lease_leases_taken_total", float64(m.leasesTaken.Load()))
	w.Family("shardwise_lease_leases_lost_total", "counter", "Leases lost (KCL LostLeases).")
	w.Sample("shardwise_lease_leases_lost_total", float64(m.leasesLost.Load()))
	w.Family("shardwise_lease_renew_errors_total", "counter", "Lease renewals that did not reach the table.")
	w.Sample("shardwise_lease_renew_errors_total", float64(m.renewErrors.Load()))
}

// putHealth is "" while put makes progress, else why not: records have waited in the producer
// for after with none delivered.
func (m *cliMetrics) putHealth(after time.Duration) string {
	since := m.waitingSince.Load()
	if since == 0 || m.pending.Load() == 0 {
		return ""
	}
	waited := m.now().Sub(time.Unix(0, since))
	if waited < after {
		return ""
	}
	last := "none delivered yet"
	if l := m.lastResolved.Load(); l != 0 {
		last = "last delivery " + m.now().Sub(time.Unix(0, l)).Round(time.Second).String() + " ago"
	}
	return fmt.Sprintf("%d records buffered, none delivered for %s (%s)", m.pending.Load(), waited.Round(time.Second), last)
}

// consumeHealth is "" while consume can work, else why not: the worker gave up, or the lease
// table has not been reached (no renewal or take round succeeded) for after.
func (m *cliMetrics) consumeHealth(after time.Duration) string {
	m.mu.Lock()
	fatal := m.fatal
	m.mu.Unlock()
	if fatal != "" {
		return fatal
	}
	last := m.start
	if l := m.lastLeaseOK.Load(); l != 0 {
		last = time.Unix(0, l)
	}
	if d := m.now().Sub(last); d >= after {
		return fmt.Sprintf("the lease table has not been reached for %s (%d renewal errors)", d.Round(time.Second), m.renewErrors.Load())
	}
	return ""
}

// metricsMux serves GET /metrics (write) and GET /healthz (200 "ok", or 503 with health's reason).
func metricsMux(write func(promtext.Writer), health func() string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", promtext.ContentType)
		pw := promtext.NewWriter(w)
		write(pw)
		pw.Flush()
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if reason := health(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unhealthy: "+reason)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// serveMetrics listens on addr and serves h until stop, which shuts the server down and waits
// for it; bound is the address listened on (addr with port 0 picks one).
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("%w: --metrics-addr: %w", errCLIUsage, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server failed", "err", err)
		}
	}, nil
}

// startPutMetrics serves put's figures and health at addr and sets c.metrics.
func startPutMetrics(c *putConfig, stream, addr string, unhealthyAfter time.Duration, stderr io.Writer) (stop func(), err error) {
	m := newCLIMetrics(stream, nil)
	bound, stop, err := serveMetrics(addr, metricsMux(m.writeProducer, func() string { return m.putHealth(unhealthyAfter) }),
		slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return nil, err
	}
	c.metrics = m
	fmt.Fprintf(stderr, "shardwise put: metrics on http://%s/metrics and /healthz\n", bound)
	return stop, nil
}

// startConsumeMetrics serves consume's figures and health at addr and sets c.metrics.
func startConsumeMetrics(c *consumeConfig, stream, addr string, unhealthyAfter time.Duration, stderr io.Writer, log *slog.Logger) (stop func(), err error) {
	m := newCLIMetrics(stream, nil)
	bound, stop, err := serveMetrics(addr, metricsMux(m.writeConsumer, func() string { return m.consumeHealth(unhealthyAfter) }), log)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	fmt.Fprintf(stderr, "shardwise consume: metrics on http://%s/metrics and /healthz\n", bound)
	return stop, nil
}
