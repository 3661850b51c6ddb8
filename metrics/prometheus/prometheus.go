package prometheus

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// Options configures Metrics. The zero value is ready to use.
type Options struct {
	// Namespace prefixes every metric name ("shardwise" when empty): <namespace>_kpl_..., _kcl_...,
	// _lease_..., _agent_....
	Namespace string
	// ShardLabels adds a shard_id label to the families whose events name a shard. Off by default:
	// a stream's shard count, and so the series count, changes with every reshard.
	ShardLabels bool
	// ConstLabels are added to every metric (e.g. {"app": "orders"}).
	ConstLabels prometheus.Labels
}

// Metrics implements every hook of kpl, kcl, lease and agent as Prometheus metrics. Pass it to
// kpl.WithHooks, kcl.WithHooks, lease.WithHooks and agent.WithHooks. Its methods are safe for
// concurrent use and never block on I/O.
type Metrics struct {
	shards bool

	// kpl
	userRecordsReceived, userRecordsPut, userRecordsDataPut *prometheus.CounterVec
	userRecordsFailed                                       *prometheus.CounterVec
	userRecordsPending                                      *prometheus.GaugeVec
	bufferingTime, retriesPerRecord, recordLatency          *prometheus.HistogramVec
	kinesisRecordsPut, kinesisRecordsDataPut                *prometheus.CounterVec
	userRecordsPerKinesisRecord                             *prometheus.HistogramVec
	putRecordsRequests, putRecordsThrottled                 *prometheus.CounterVec
	requestTime, kinesisRecordsPerRequest                   *prometheus.HistogramVec
	allErrors, errorsByCode                                 *prometheus.CounterVec
	shardMapRefreshes                                       *prometheus.CounterVec
	openShards                                              *prometheus.GaugeVec
	distributionChanges                                     *prometheus.CounterVec
	predicting                                              *prometheus.GaugeVec

	// kcl
	recordsProcessed, dataBytesProcessed, processErrors *prometheus.CounterVec
	processTaskTime                                     *prometheus.HistogramVec
	millisBehindLatest                                  *prometheus.GaugeVec
	currentLeases                                       *prometheus.GaugeVec
	shardsStarted, shardLeasesLost, shardsEnded         *prometheus.CounterVec
	expiredIterators, getRecordsThrottled               *prometheus.CounterVec
	recordsFiltered, corruptRecords, recordsDropped     *prometheus.CounterVec
	registrationRefusals                                *prometheus.CounterVec

	// lease
	renewals, leasesTaken, leasesLost, leasesReleased *prometheus.CounterVec
	renewTime, checkpointTime, takeTime               *prometheus.HistogramVec
	checkpoints, takeRounds, leasesStolen             *prometheus.CounterVec
	totalLeases, numWorkers, neededLeases, leasesHeld *prometheus.GaugeVec
	expiredLeases                                     *prometheus.GaugeVec

	// agent
	agentRecordsFailed, agentFileEvents, agentCheckpoints *prometheus.CounterVec
	agentCheckpointTime                                   *prometheus.HistogramVec
	agentSendAttempts, agentSendErrors                    *prometheus.CounterVec
	agentServiceErrors, agentSendCalls                    *prometheus.CounterVec
	agentRecordsSent, agentBytesSent                      *prometheus.CounterVec

	// behind holds each shard's MillisBehindLatest so that, without shard labels, the stream's
	// gauge is the largest of its shards' (as CloudWatch's Maximum), not the last one reported.
	mu     sync.Mutex
	behind map[string]map[string]int64 // stream -> shard -> millis
}

// Latency buckets in seconds (1 ms to about 65 s) and count buckets (1 to 1024).
var (
	secondsBuckets = prometheus.ExponentialBuckets(0.001, 2, 17)
	countBuckets   = prometheus.ExponentialBuckets(1, 2, 11)
	retryBuckets   = []float64{0, 1, 2, 3, 5, 10, 20}
)

// New creates the metrics and registers them with reg (prometheus.DefaultRegisterer when nil).
// It fails when a metric of the same name is registered already (a second Metrics in the same
// registry needs another Namespace or ConstLabels).
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "shardwise"
	}
	m := &Metrics{shards: opts.ShardLabels, behind: map[string]map[string]int64{}}
	var cs []prometheus.Collector
	withShard := func(labels ...string) []string {
		if opts.ShardLabels {
			return append(labels, "shard_id")
		}
		return labels
	}
	counter := func(sub, name, help string, labels []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, ConstLabels: opts.ConstLabels}, labels)
		cs = append(cs, c)
		return c
	}
	gauge := func(sub, name, help string, labels []string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, ConstLabels: opts.ConstLabels}, labels)
		cs = append(cs, g)
		return g
	}
	histogram := func(sub, name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: buckets, ConstLabels: opts.ConstLabels}, labels)
		cs = append(cs, h)
		return h
	}
	stream := []string{"stream"}
	table := []string{"table"}
	flow := []string{"file_pattern", "stream"}

	m.userRecordsReceived = counter("kpl", "user_records_received_total", "User records accepted by the producer (KPL UserRecordsReceived).", stream)
	m.userRecordsPending = gauge("kpl", "user_records_pending", "User records held by the producer, not resolved yet (KPL UserRecordsPending).", stream)
	m.userRecordsPut = counter("kpl", "user_records_put_total", "User records delivered (KPL UserRecordsPut).", withShard("stream"))
	m.userRecordsDataPut = counter("kpl", "user_records_data_put_bytes_total", "Bytes of user records delivered, partition keys included (KPL UserRecordsDataPut).", withShard("stream"))
	m.userRecordsFailed = counter("kpl", "user_records_failed_total", "User records resolved with an error, by last error code (KPL UserRecordExpired and the like).", []string{"stream", "code"})
	m.bufferingTime = histogram("kpl", "buffering_time_seconds", "Time from PutAsync to a record's first PutRecords call (KPL BufferingTime).", secondsBuckets, stream)
	m.retriesPerRecord = histogram("kpl", "retries_per_record", "PutRecords calls a user record needed beyond the first (KPL RetriesPerRecord).", retryBuckets, stream)
	m.recordLatency = histogram("kpl", "user_record_latency_seconds", "Time from PutAsync to a record's resolution.", secondsBuckets, stream)
	m.kinesisRecordsPut = counter("kpl", "kinesis_records_put_total", "Kinesis records delivered, aggregates counting once (KPL KinesisRecordsPut).", withShard("stream"))
	m.kinesisRecordsDataPut = counter("kpl", "kinesis_records_data_put_bytes_total", "Bytes of Kinesis records delivered (KPL KinesisRecordsDataPut).", withShard("stream"))
	m.userRecordsPerKinesisRecord = histogram("kpl", "user_records_per_kinesis_record", "User records per Kinesis record delivered (KPL UserRecordsPerKinesisRecord).", countBuckets, stream)
	m.putRecordsRequests = counter("kpl", "put_records_requests_total", "PutRecords calls, by result: ok, partial (some entries failed) or error (the call failed).", []string{"stream", "result"})
	m.putRecordsThrottled = counter("kpl", "put_records_throttled_entries_total", "PutRecords entries refused with ProvisionedThroughputExceededException.", stream)
	m.requestTime = histogram("kpl", "request_time_seconds", "Duration of PutRecords calls (KPL RequestTime).", secondsBuckets, stream)
	m.kinesisRecordsPerRequest = histogram("kpl", "kinesis_records_per_put_records_request", "Kinesis records per PutRecords call (KPL KinesisRecordsPerPutRecordsRequest).", countBuckets, stream)
	m.allErrors = counter("kpl", "all_errors_total", "Failed PutRecords entries, retried or not, entries of failed calls included (KPL AllErrors).", withShard("stream"))
	m.errorsByCode = counter("kpl", "errors_by_code_total", "Failed PutRecords entries by error code (KPL ErrorsByCode).", []string{"stream", "code"})
	m.shardMapRefreshes = counter("kpl", "shard_map_refreshes_total", "Shard map refreshes, by reason and result (ok or error).", []string{"stream", "reason", "result"})
	m.openShards = gauge("kpl", "open_shards", "Open shards in the producer's shard map.", stream)
	m.distributionChanges = counter("kpl", "distribution_changes_total", "Changes of the stream's record distribution seen by the producer.", []string{"stream", "strategy"})
	m.predicting = gauge("kpl", "shard_prediction", "1 while aggregation and shard prediction are on, 0 while the stream distributes records itself.", stream)

	m.recordsProcessed = counter("kcl", "records_processed_total", "User records given to ProcessRecords (KCL RecordsProcessed).", withShard("stream"))
	m.dataBytesProcessed = counter("kcl", "data_bytes_processed_total", "Bytes of the records given to ProcessRecords (KCL DataBytesProcessed).", withShard("stream"))
	m.processErrors = counter("kcl", "process_errors_total", "ProcessRecords calls that returned an error (the batch is delivered again).", withShard("stream"))
	m.processTaskTime = histogram("kcl", "process_task_time_seconds", "Time spent in ProcessRecords (KCL ProcessTask Time).", secondsBuckets, stream)
	m.millisBehindLatest = gauge("kcl", "millis_behind_latest", "How far behind the tip of the stream the consumer is, in milliseconds; without shard labels the largest of the stream's shards (KCL MillisBehindLatest).", withShard("stream"))
	m.currentLeases = gauge("kcl", "current_leases", "Shards this worker processes (KCL CurrentLeases).", stream)
	m.shardsStarted = counter("kcl", "shards_started_total", "Shard consumers started.", withShard("stream"))
	m.shardLeasesLost = counter("kcl", "shard_leases_lost_total", "Shard consumers stopped because their lease was lost.", withShard("stream"))
	m.shardsEnded = counter("kcl", "shards_ended_total", "Shards processed to their end (after a split or merge).", withShard("stream"))
	m.expiredIterators = counter("kcl", "expired_iterators_total", "Shard iterators that expired and were fetched again.", withShard("stream"))
	m.getRecordsThrottled = counter("kcl", "get_records_throttled_total", "GetRecords calls throttled.", withShard("stream"))
	m.recordsFiltered = counter("kcl", "records_filtered_total", "Records dropped by a filter before ProcessRecords.", withShard("stream"))
	m.corruptRecords = counter("kcl", "corrupt_records_total", "Records that could not be decoded (corrupt aggregates).", withShard("stream"))
	m.recordsDropped = counter("kcl", "records_dropped_total", "Sub-records of aggregates dropped, by reason.", []string{"stream", "reason"})
	m.registrationRefusals = counter("kcl", "consumer_registration_refusals_total", "Enhanced fan-out consumer registrations refused.", stream)

	m.renewals = counter("lease", "renewals_total", "Lease renewal attempts, by result: ok, lost or error (KCL RenewAllLeases).", []string{"table", "result"})
	m.renewTime = histogram("lease", "renew_time_seconds", "Duration of lease renewals.", secondsBuckets, table)
	m.leasesTaken = counter("lease", "leases_taken_total", "Leases taken, by reason (KCL TakenLeases).", []string{"table", "reason"})
	m.leasesLost = counter("lease", "leases_lost_total", "Leases lost (KCL LostLeases).", table)
	m.leasesReleased = counter("lease", "leases_released_total", "Leases released at shutdown or shard end.", table)
	m.checkpoints = counter("lease", "checkpoints_total", "Checkpoint writes, by result: ok or error.", []string{"table", "result"})
	m.checkpointTime = histogram("lease", "checkpoint_time_seconds", "Duration of checkpoint writes.", secondsBuckets, table)
	m.takeRounds = counter("lease", "take_rounds_total", "Lease taking rounds, by result: ok or error (KCL TakeLeases).", []string{"table", "result"})
	m.takeTime = histogram("lease", "take_time_seconds", "Duration of lease taking rounds (KCL TakeLeases Time).", secondsBuckets, table)
	m.leasesStolen = counter("lease", "leases_stolen_total", "Leases taken from another worker (KCL LeaseSpillover).", table)
	m.totalLeases = gauge("lease", "total_leases", "Leases in the table at the last round (KCL TotalLeases).", table)
	m.numWorkers = gauge("lease", "num_workers", "Live workers seen at the last round, this one included (KCL NumWorkers).", table)
	m.neededLeases = gauge("lease", "target_leases", "Leases per worker this worker aims for at the last round.", table)
	m.leasesHeld = gauge("lease", "leases_held", "Leases this worker held before the last round.", table)
	m.expiredLeases = gauge("lease", "available_leases", "Unowned or expired leases seen at the last round (KCL ExpiredLeases).", table)

	m.agentRecordsFailed = counter("agent", "hook_records_failed_total", "Records rejected for good and skipped.", flow)
	m.agentFileEvents = counter("agent", "hook_file_events_total", "File events, by kind (tailing, rotated, truncated, finished).", []string{"file_pattern", "stream", "kind"})
	m.agentCheckpoints = counter("agent", "hook_checkpoints_total", "Checkpoint file writes, by result: ok or error.", []string{"result"})
	m.agentCheckpointTime = histogram("agent", "hook_checkpoint_time_seconds", "Duration of checkpoint file writes.", secondsBuckets, nil)
	m.agentSendAttempts = counter("agent", "hook_record_send_attempts_total", "Records carried by send calls, retries included (Kinesis Agent RecordSendAttempts).", flow)
	m.agentSendErrors = counter("agent", "hook_record_send_errors_total", "Records send calls returned as failed (Kinesis Agent RecordSendErrors).", flow)
	m.agentServiceErrors = counter("agent", "hook_service_errors_total", "Send calls that failed as a whole (Kinesis Agent ServiceErrors).", flow)
	m.agentSendCalls = counter("agent", "hook_send_calls_total", "Send calls (PutRecords or PutRecordBatch).", flow)
	m.agentRecordsSent = counter("agent", "hook_records_sent_total", "Records delivered (Kinesis Agent RecordsSent).", flow)
	m.agentBytesSent = counter("agent", "hook_bytes_sent_total", "Data bytes delivered (Kinesis Agent BytesSent).", flow)

	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("metrics/prometheus: registering: %w", errors.Join(errs...))
	}
	return m, nil
}

// MustNew is New that panics on error, for package-level setup.
func MustNew(reg prometheus.Registerer, opts Options) *Metrics {
	m, err := New(reg, opts)
	if err != nil {
		panic(err)
	}
	return m
}

// sl returns the label values of a per-shard family: the stream, and the shard with ShardLabels.
func (m *Metrics) sl(stream, shard string) []string {
	if m.shards {
		return []string{stream, shard}
	}
	return []string{stream}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// Every hook of the four packages; TestEveryHookAsserted fails when one is missing here.
var (
	_ kpl.HookRecordBuffered      = (*Metrics)(nil)
	_ kpl.HookRecordDone          = (*Metrics)(nil)
	_ kpl.HookKinesisRecordPut    = (*Metrics)(nil)
	_ kpl.HookPutRecords          = (*Metrics)(nil)
	_ kpl.HookEntryError          = (*Metrics)(nil)
	_ kpl.HookShardMapRefreshed   = (*Metrics)(nil)
	_ kpl.HookDistributionChanged = (*Metrics)(nil)

	_ kcl.HookRecordsProcessed     = (*Metrics)(nil)
	_ kcl.HookMillisBehindLatest   = (*Metrics)(nil)
	_ kcl.HookCurrentLeases        = (*Metrics)(nil)
	_ kcl.HookShardStarted         = (*Metrics)(nil)
	_ kcl.HookShardLeaseLost       = (*Metrics)(nil)
	_ kcl.HookExpiredIterator      = (*Metrics)(nil)
	_ kcl.HookGetRecordsThrottled  = (*Metrics)(nil)
	_ kcl.HookRecordsFiltered      = (*Metrics)(nil)
	_ kcl.HookCorruptRecord        = (*Metrics)(nil)
	_ kcl.HookShardEnded           = (*Metrics)(nil)
	_ kcl.HookConsumerRegistration = (*Metrics)(nil)
	_ kcl.HookRecordDropped        = (*Metrics)(nil)

	_ lease.HookLeaseRenewed    = (*Metrics)(nil)
	_ lease.HookLeaseTaken      = (*Metrics)(nil)
	_ lease.HookLeaseLost       = (*Metrics)(nil)
	_ lease.HookLeaseReleased   = (*Metrics)(nil)
	_ lease.HookLeaseCheckpoint = (*Metrics)(nil)
	_ lease.HookLeaseTakeRound  = (*Metrics)(nil)

	_ agent.HookRecordFailed      = (*Metrics)(nil)
	_ agent.HookFileEvent         = (*Metrics)(nil)
	_ agent.HookCheckpointWritten = (*Metrics)(nil)
	_ agent.HookFlowSend          = (*Metrics)(nil)
	_ agent.HookFlowDelivered     = (*Metrics)(nil)
)

// kpl

func (m *Metrics) OnRecordBuffered(e kpl.RecordBufferedEvent) {
	m.userRecordsReceived.WithLabelValues(e.Stream).Inc()
	m.userRecordsPending.WithLabelValues(e.Stream).Set(float64(e.Pending))
}

func (m *Metrics) OnRecordDone(e kpl.RecordDoneEvent) {
	m.recordLatency.WithLabelValues(e.Stream).Observe(e.Latency.Seconds())
	if e.Attempts > 0 {
		m.bufferingTime.WithLabelValues(e.Stream).Observe(e.BufferingTime.Seconds())
		m.retriesPerRecord.WithLabelValues(e.Stream).Observe(float64(e.Attempts - 1))
	}
	if e.Err != nil {
		code := e.Code
		if code == "" {
			code = "unknown"
		}
		m.userRecordsFailed.WithLabelValues(e.Stream, code).Inc()
		return
	}
	m.userRecordsPut.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
	m.userRecordsDataPut.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Add(float64(e.Bytes))
}

func (m *Metrics) OnKinesisRecordPut(e kpl.KinesisRecordEvent) {
	m.kinesisRecordsPut.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
	m.kinesisRecordsDataPut.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Add(float64(e.Bytes))
	m.userRecordsPerKinesisRecord.WithLabelValues(e.Stream).Observe(float64(e.UserRecords))
}

func (m *Metrics) OnPutRecords(e kpl.PutRecordsEvent) {
	res := "ok"
	switch {
	case e.Err != nil:
		res = "error"
	case e.Failed > 0:
		res = "partial"
	}
	m.putRecordsRequests.WithLabelValues(e.Stream, res).Inc()
	m.putRecordsThrottled.WithLabelValues(e.Stream).Add(float64(e.Throttled))
	m.requestTime.WithLabelValues(e.Stream).Observe(e.Latency.Seconds())
	m.kinesisRecordsPerRequest.WithLabelValues(e.Stream).Observe(float64(e.KinesisRecords))
}

func (m *Metrics) OnEntryError(e kpl.EntryErrorEvent) {
	code := e.Code
	if code == "" {
		code = "unknown"
	}
	m.allErrors.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
	m.errorsByCode.WithLabelValues(e.Stream, code).Inc()
}

func (m *Metrics) OnShardMapRefreshed(e kpl.ShardMapEvent) {
	m.shardMapRefreshes.WithLabelValues(e.Stream, e.Reason, result(e.Err)).Inc()
	if e.Err == nil {
		m.openShards.WithLabelValues(e.Stream).Set(float64(e.OpenShards))
	}
}

func (m *Metrics) OnDistributionChanged(e kpl.DistributionEvent) {
	m.distributionChanges.WithLabelValues(e.Stream, e.Strategy).Inc()
	v := 0.0
	if e.Predicting {
		v = 1
	}
	m.predicting.WithLabelValues(e.Stream).Set(v)
}

// kcl

func (m *Metrics) OnRecordsProcessed(e kcl.ProcessedEvent) {
	m.processTaskTime.WithLabelValues(e.Stream).Observe(e.Duration.Seconds())
	if e.Err != nil {
		m.processErrors.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
		return
	}
	m.recordsProcessed.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Add(float64(e.Records))
	m.dataBytesProcessed.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Add(float64(e.Bytes))
}

func (m *Metrics) OnMillisBehindLatest(e kcl.BehindEvent) {
	m.setBehind(e.Stream, e.ShardID, e.MillisBehindLatest, false)
}

// setBehind records (or, with remove, forgets) a shard's MillisBehindLatest and sets the gauge.
func (m *Metrics) setBehind(stream, shard string, millis int64, remove bool) {
	if m.shards {
		if remove {
			m.millisBehindLatest.DeleteLabelValues(stream, shard)
		} else {
			m.millisBehindLatest.WithLabelValues(stream, shard).Set(float64(millis))
		}
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byShard := m.behind[stream]
	if byShard == nil {
		if remove {
			return
		}
		byShard = map[string]int64{}
		m.behind[stream] = byShard
	}
	if remove {
		delete(byShard, shard)
	} else {
		byShard[shard] = millis
	}
	if len(byShard) == 0 {
		delete(m.behind, stream)
		m.millisBehindLatest.DeleteLabelValues(stream)
		return
	}
	m.millisBehindLatest.WithLabelValues(stream).Set(float64(slices.Max(slices.Collect(maps.Values(byShard)))))
}

func (m *Metrics) OnCurrentLeases(e kcl.CurrentLeasesEvent) {
	m.currentLeases.WithLabelValues(e.Stream).Set(float64(e.Leases))
}

func (m *Metrics) OnShardStarted(e kcl.ShardEvent) {
	m.shardsStarted.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
}

func (m *Metrics) OnShardLeaseLost(e kcl.ShardLeaseLostEvent) {
	m.shardLeasesLost.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
	m.setBehind(e.Stream, e.ShardID, 0, true) // another worker reports it now
}

func (m *Metrics) OnExpiredIterator(e kcl.ShardEvent) {
	m.expiredIterators.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
}

func (m *Metrics) OnGetRecordsThrottled(e kcl.ThrottledEvent) {
	m.getRecordsThrottled.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
}

func (m *Metrics) OnRecordsFiltered(e kcl.FilteredEvent) {
	m.recordsFiltered.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Add(float64(e.Records))
}

func (m *Metrics) OnCorruptRecord(e kcl.CorruptEvent) {
	m.corruptRecords.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
}

func (m *Metrics) OnShardEnded(e kcl.ShardEndedEvent) {
	m.shardsEnded.WithLabelValues(m.sl(e.Stream, e.ShardID)...).Inc()
	m.setBehind(e.Stream, e.ShardID, 0, true) // a closed shard is behind nothing
}

func (m *Metrics) OnConsumerRegistrationRefused(e kcl.RegistrationEvent) {
	m.registrationRefusals.WithLabelValues(e.Stream).Inc()
}

func (m *Metrics) OnRecordDropped(e kcl.DroppedEvent) {
	m.recordsDropped.WithLabelValues(e.Stream, e.Reason).Inc()
}

// lease

func (m *Metrics) OnLeaseRenewed(e lease.RenewEvent) {
	res := "ok"
	switch {
	case errors.Is(e.Err, lease.ErrLeaseLost):
		res = "lost"
	case e.Err != nil:
		res = "error"
	}
	m.renewals.WithLabelValues(e.Table, res).Inc()
	m.renewTime.WithLabelValues(e.Table).Observe(e.Latency.Seconds())
}

func (m *Metrics) OnLeaseTaken(e lease.TakenEvent) {
	m.leasesTaken.WithLabelValues(e.Table, e.Reason.String()).Inc()
}

func (m *Metrics) OnLeaseLost(e lease.LostEvent) { m.leasesLost.WithLabelValues(e.Table).Inc() }

func (m *Metrics) OnLeaseReleased(e lease.ReleasedEvent) {
	m.leasesReleased.WithLabelValues(e.Table).Inc()
}

func (m *Metrics) OnLeaseCheckpoint(e lease.CheckpointEvent) {
	m.checkpoints.WithLabelValues(e.Table, result(e.Err)).Inc()
	m.checkpointTime.WithLabelValues(e.Table).Observe(e.Latency.Seconds())
}

func (m *Metrics) OnLeaseTakeRound(e lease.TakeRoundEvent) {
	m.takeRounds.WithLabelValues(e.Table, result(e.Err)).Inc()
	m.takeTime.WithLabelValues(e.Table).Observe(e.Latency.Seconds())
	if e.Err != nil {
		return // the figures of a failed scan are not the table's
	}
	m.leasesStolen.WithLabelValues(e.Table).Add(float64(e.Stolen))
	m.totalLeases.WithLabelValues(e.Table).Set(float64(e.Leases))
	m.numWorkers.WithLabelValues(e.Table).Set(float64(e.Workers))
	m.neededLeases.WithLabelValues(e.Table).Set(float64(e.Target))
	m.leasesHeld.WithLabelValues(e.Table).Set(float64(e.Held))
	m.expiredLeases.WithLabelValues(e.Table).Set(float64(e.Available))
}

// agent

func (m *Metrics) OnRecordFailed(e agent.RecordFailedEvent) {
	m.agentRecordsFailed.WithLabelValues(e.FilePattern, e.Stream).Inc()
}

func (m *Metrics) OnFileEvent(e agent.FileEvent) {
	m.agentFileEvents.WithLabelValues(e.FilePattern, e.Stream, e.Kind.String()).Inc()
}

func (m *Metrics) OnCheckpointWritten(e agent.CheckpointEvent) {
	m.agentCheckpoints.WithLabelValues(result(e.Err)).Inc()
	m.agentCheckpointTime.WithLabelValues().Observe(e.Duration.Seconds())
}

func (m *Metrics) OnFlowSend(e agent.FlowSendEvent) {
	m.agentSendCalls.WithLabelValues(e.FilePattern, e.Stream).Inc()
	m.agentSendAttempts.WithLabelValues(e.FilePattern, e.Stream).Add(float64(e.Records))
	m.agentSendErrors.WithLabelValues(e.FilePattern, e.Stream).Add(float64(e.Failed))
	if e.ServiceError {
		m.agentServiceErrors.WithLabelValues(e.FilePattern, e.Stream).Inc()
	}
}

func (m *Metrics) OnFlowDelivered(e agent.FlowDeliveredEvent) {
	m.agentRecordsSent.WithLabelValues(e.FilePattern, e.Stream).Inc()
	m.agentBytesSent.WithLabelValues(e.FilePattern, e.Stream).Add(float64(e.Bytes))
}
