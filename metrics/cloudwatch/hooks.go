package cloudwatch

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

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

const (
	count   = types.StandardUnitCount
	bytes   = types.StandardUnitBytes
	millis  = types.StandardUnitMilliseconds
	summary = LevelSummary
	detail  = LevelDetailed
)

// op is the KCL's Operation dimension.
func op(name string) []dim { return []dim{{"Operation", name}} }

// workerOp is the Operation dimension of the Java KCL's per-worker operations (RenewAllLeases,
// TakeLeases), followed by WorkerIdentifier when Config.WorkerIdentifier is set: the KCL's lease
// renewer and taker add it to their scopes, its per-shard tasks do not.
func (m *Metrics) workerOp(name string, more ...dim) []dim {
	ds := append(op(name), more...)
	if m.cfg.WorkerIdentifier != "" {
		ds = append(ds, dim{"WorkerIdentifier", m.cfg.WorkerIdentifier})
	}
	return ds
}

func ms(d interface{ Milliseconds() int64 }) float64 { return float64(d.Milliseconds()) }

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// kpl: the KPL's names, levels and dimensions (StreamName, ShardId by granularity; ErrorCode).

func (m *Metrics) OnRecordBuffered(e kpl.RecordBufferedEvent) {
	m.put(detail, "UserRecordsReceived", count, 1, scope{stream: e.Stream})
	m.put(detail, "UserRecordsPending", count, float64(e.Pending), scope{stream: e.Stream})
}

func (m *Metrics) OnRecordDone(e kpl.RecordDoneEvent) {
	sc := scope{stream: e.Stream, shard: e.ShardID}
	if e.Attempts > 0 {
		m.put(summary, "BufferingTime", millis, ms(e.BufferingTime), sc)
		m.put(detail, "RetriesPerRecord", count, float64(e.Attempts-1), sc)
	}
	if e.Err != nil {
		if errors.Is(e.Err, kpl.ErrRecordExpired) {
			m.put(summary, "UserRecordExpired", count, 1, scope{stream: e.Stream})
		} else {
			m.put(summary, "UserRecordsFailed", count, 1, scope{stream: e.Stream})
		}
		return
	}
	m.put(summary, "UserRecordsPut", count, 1, sc)
	m.put(detail, "UserRecordsDataPut", bytes, float64(e.Bytes), sc)
}

func (m *Metrics) OnKinesisRecordPut(e kpl.KinesisRecordEvent) {
	sc := scope{stream: e.Stream, shard: e.ShardID}
	m.put(summary, "KinesisRecordsPut", count, 1, sc)
	m.put(detail, "KinesisRecordsDataPut", bytes, float64(e.Bytes), sc)
	m.put(detail, "UserRecordsPerKinesisRecord", count, float64(e.UserRecords), sc)
}

func (m *Metrics) OnPutRecords(e kpl.PutRecordsEvent) {
	sc := scope{stream: e.Stream}
	m.put(detail, "RequestTime", millis, ms(e.Latency), sc)
	m.put(detail, "KinesisRecordsPerPutRecordsRequest", count, float64(e.KinesisRecords), sc)
}

func (m *Metrics) OnEntryError(e kpl.EntryErrorEvent) {
	code := e.Code
	if code == "" {
		code = "Unknown"
	}
	m.put(summary, "AllErrors", count, 1, scope{stream: e.Stream, shard: e.ShardID})
	m.put(summary, "ErrorsByCode", count, 1, scope{base: []dim{{"ErrorCode", code}}, stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnShardMapRefreshed(e kpl.ShardMapEvent) {
	m.put(detail, "ShardMapRefreshes", count, 1, scope{stream: e.Stream})
	if e.Err != nil {
		m.put(summary, "ShardMapRefreshErrors", count, 1, scope{stream: e.Stream})
		return
	}
	m.put(detail, "OpenShards", count, float64(e.OpenShards), scope{stream: e.Stream})
}

func (m *Metrics) OnDistributionChanged(e kpl.DistributionEvent) {
	m.put(detail, "ShardPrediction", count, boolf(e.Predicting), scope{stream: e.Stream})
}

// kcl: Operation ProcessTask (and the others of the Java KCL), StreamName and ShardId by
// granularity.

func (m *Metrics) OnRecordsProcessed(e kcl.ProcessedEvent) {
	sc := scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID}
	m.put(summary, "RecordProcessor.processRecords.Time", millis, ms(e.Duration), sc)
	m.put(summary, "Success", count, boolf(e.Err == nil), sc)
	if e.Err != nil {
		return
	}
	m.put(summary, "RecordsProcessed", count, float64(e.Records), sc)
	m.put(summary, "DataBytesProcessed", bytes, float64(e.Bytes), sc)
}

func (m *Metrics) OnMillisBehindLatest(e kcl.BehindEvent) {
	m.put(summary, "MillisBehindLatest", millis, float64(e.MillisBehindLatest), scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnCurrentLeases(e kcl.CurrentLeasesEvent) {
	m.put(summary, "CurrentLeases", count, float64(e.Leases), scope{base: m.workerOp("RenewAllLeases"), stream: e.Stream})
}

func (m *Metrics) OnShardStarted(e kcl.ShardEvent) {
	m.put(detail, "ShardStarted", count, 1, scope{base: op("InitializeTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnShardLeaseLost(e kcl.ShardLeaseLostEvent) {
	m.put(summary, "ShardLeaseLost", count, 1, scope{base: op("ShutdownTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnExpiredIterator(e kcl.ShardEvent) {
	m.put(summary, "ExpiredIterator", count, 1, scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnGetRecordsThrottled(e kcl.ThrottledEvent) {
	m.put(summary, "GetRecordsThrottled", count, 1, scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnRecordsFiltered(e kcl.FilteredEvent) {
	m.put(detail, "RecordsFiltered", count, float64(e.Records), scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnCorruptRecord(e kcl.CorruptEvent) {
	m.put(summary, "CorruptRecords", count, 1, scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnShardEnded(e kcl.ShardEndedEvent) {
	m.put(detail, "ShardEnded", count, 1, scope{base: op("ShutdownTask"), stream: e.Stream, shard: e.ShardID})
}

func (m *Metrics) OnConsumerRegistrationRefused(e kcl.RegistrationEvent) {
	m.put(summary, "RegistrationRefused", count, 1, scope{base: op("RegisterStreamConsumer"), stream: e.Stream})
}

func (m *Metrics) OnRecordDropped(e kcl.DroppedEvent) {
	m.put(summary, "RecordsDropped", count, 1, scope{base: op("ProcessTask"), stream: e.Stream, shard: e.ShardID})
}

// lease: the Java KCL's lease operations (RenewAllLeases, TakeLeases, with WorkerIdentifier), no
// stream dimension.

func (m *Metrics) OnLeaseRenewed(e lease.RenewEvent) {
	sc := scope{base: m.workerOp("RenewAllLeases")}
	m.put(detail, "RenewLease.Success", count, boolf(e.Err == nil), sc)
	m.put(detail, "RenewLease.Time", millis, ms(e.Latency), sc)
	if errors.Is(e.Err, lease.ErrLeaseLost) {
		m.put(summary, "LostLeases", count, 1, sc)
	}
}

func (m *Metrics) OnLeaseTaken(e lease.TakenEvent) {
	// counted per round in OnLeaseTakeRound (TakenLeases); this one says why, at DETAILED.
	m.put(detail, "LeaseTaken", count, 1, scope{base: m.workerOp("TakeLeases", dim{"Reason", e.Reason.String()})})
}

func (m *Metrics) OnLeaseLost(e lease.LostEvent) {
	if errors.Is(e.Err, lease.ErrLeaseLost) {
		return // counted by OnLeaseRenewed
	}
	m.put(summary, "LostLeases", count, 1, scope{base: m.workerOp("RenewAllLeases")})
}

func (m *Metrics) OnLeaseReleased(e lease.ReleasedEvent) {
	m.put(detail, "LeasesReleased", count, 1, scope{base: op("ShutdownTask")})
}

func (m *Metrics) OnLeaseCheckpoint(e lease.CheckpointEvent) {
	sc := scope{base: op("Checkpoint")}
	m.put(detail, "Success", count, boolf(e.Err == nil), sc)
	m.put(detail, "Time", millis, ms(e.Latency), sc)
}

func (m *Metrics) OnLeaseTakeRound(e lease.TakeRoundEvent) {
	sc := scope{base: m.workerOp("TakeLeases")}
	m.put(summary, "Success", count, boolf(e.Err == nil), sc)
	m.put(summary, "Time", millis, ms(e.Latency), sc)
	if e.Err != nil {
		return
	}
	m.put(summary, "TakenLeases", count, float64(e.Taken), sc)
	m.put(summary, "LeaseSpillover", count, float64(e.Stolen), sc)
	m.put(summary, "NumWorkers", count, float64(e.Workers), sc)
	m.put(summary, "ExpiredLeases", count, float64(e.Available), sc)
	m.put(detail, "TotalLeases", count, float64(e.Leases), sc)
	m.put(detail, "NeededLeases", count, float64(max(0, e.Target-e.Held)), sc)
}

// agent: the Kinesis Agent's per-destination names, Destination dimension.

func dest(stream string) []dim { return []dim{{"Destination", stream}} }

func (m *Metrics) OnRecordFailed(e agent.RecordFailedEvent) {
	m.put(summary, "RecordsFailed", count, 1, scope{base: dest(e.Stream)})
}

func (m *Metrics) OnFileEvent(e agent.FileEvent) {
	m.put(detail, "FileEvents", count, 1, scope{base: append(dest(e.Stream), dim{"Kind", e.Kind.String()})})
}

func (m *Metrics) OnCheckpointWritten(e agent.CheckpointEvent) {
	m.put(detail, "CheckpointsWritten", count, boolf(e.Err == nil), scope{})
	if e.Err != nil {
		m.put(summary, "CheckpointErrors", count, 1, scope{})
	}
}

func (m *Metrics) OnFlowSend(e agent.FlowSendEvent) {
	sc := scope{base: dest(e.Stream)}
	m.put(summary, "RecordSendAttempts", count, float64(e.Records), sc)
	m.put(summary, "RecordSendErrors", count, float64(e.Failed), sc)
	m.put(summary, "ServiceErrors", count, boolf(e.ServiceError), sc)
}

func (m *Metrics) OnFlowDelivered(e agent.FlowDeliveredEvent) {
	sc := scope{base: dest(e.Stream)}
	m.put(summary, "RecordsSent", count, 1, sc)
	m.put(summary, "BytesSent", bytes, float64(e.Bytes), sc)
}
