package agentmetrics

import (
	"io"
	"net/http"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/promtext"
)

// WritePrometheus writes the figures of s in the Prometheus text format. Per-flow families carry
// the labels file_pattern and destination ("KinesisStream:<stream>" or "DeliveryStream:<name>").
func WritePrometheus(w io.Writer, s agent.Stats) error {
	p := promtext.NewWriter(w)
	agentCounter := func(name, help string, v int64) {
		p.Family(name, "counter", help)
		p.Sample(name, float64(v))
	}
	p.Family("shardwise_agent_up", "gauge", "1 while an agent runs (0 between a reload's stop and start).")
	if s.Started.IsZero() {
		p.Sample("shardwise_agent_up", 0)
		return p.Flush()
	}
	p.Sample("shardwise_agent_up", 1)
	p.Family("shardwise_agent_start_time_seconds", "gauge", "When the running agent started, in seconds since the epoch.")
	p.Sample("shardwise_agent_start_time_seconds", float64(s.Started.UnixNano())/1e9)
	agentCounter("shardwise_agent_records_read_total", "Records cut from files.", s.RecordsRead)
	agentCounter("shardwise_agent_bytes_read_total", "Bytes read from files.", s.BytesRead)
	agentCounter("shardwise_agent_records_failed_total", "Records rejected for good (invalid or too large) and skipped.", s.RecordsFailed)
	agentCounter("shardwise_agent_records_filtered_total", "Records a processing option dropped.", s.RecordsFiltered)
	agentCounter("shardwise_agent_records_truncated_total", "Records cut at the record size limit.", s.RecordsTruncated)
	agentCounter("shardwise_agent_records_retried_total", "Re-sends of records the producer had given up on.", s.RecordsRetried)
	agentCounter("shardwise_agent_checkpoints_written_total", "Checkpoint file writes.", s.CheckpointsWritten)
	p.Family("shardwise_agent_checkpoint_age_seconds", "gauge", "Seconds since the checkpoint file last held every delivered offset.")
	p.Sample("shardwise_agent_checkpoint_age_seconds", s.CheckpointAge.Seconds())

	type flowFamily struct {
		name, typ, help string
		value           func(agent.FlowStats) float64
	}
	families := []flowFamily{
		{"shardwise_agent_record_send_attempts_total", "counter", "Records carried by PutRecords (PutRecordBatch) calls, retries included (RecordSendAttempts).",
			func(f agent.FlowStats) float64 { return float64(f.RecordSendAttempts) }},
		{"shardwise_agent_records_sent_total", "counter", "Records delivered (RecordsSent).",
			func(f agent.FlowStats) float64 { return float64(f.RecordsSent) }},
		{"shardwise_agent_record_send_errors_total", "counter", "Records send calls returned as failed (RecordSendErrors).",
			func(f agent.FlowStats) float64 { return float64(f.RecordSendErrors) }},
		{"shardwise_agent_service_errors_total", "counter", "Send calls that failed as a whole (ServiceErrors).",
			func(f agent.FlowStats) float64 { return float64(f.ServiceErrors) }},
		{"shardwise_agent_bytes_sent_total", "counter", "Data bytes delivered (BytesSent).",
			func(f agent.FlowStats) float64 { return float64(f.BytesSent) }},
		{"shardwise_agent_send_calls_total", "counter", "PutRecords (PutRecordBatch) calls.",
			func(f agent.FlowStats) float64 { return float64(f.SendCalls) }},
		{"shardwise_agent_consecutive_processing_errors", "gauge", "Polls in a row that met an error reading the flow's files (ConsecutiveProcessingErrors).",
			func(f agent.FlowStats) float64 { return float64(f.ConsecutiveProcessingErrors) }},
		{"shardwise_agent_bytes_behind", "gauge", "Bytes of the flow's files not delivered yet.",
			func(f agent.FlowStats) float64 { return float64(f.BytesBehind) }},
		{"shardwise_agent_bytes_unread", "gauge", "Bytes of the flow's files not read yet.",
			func(f agent.FlowStats) float64 { return float64(f.BytesUnread) }},
		{"shardwise_agent_pending_records", "gauge", "Records read and not delivered yet.",
			func(f agent.FlowStats) float64 { return float64(f.PendingRecords) }},
		{"shardwise_agent_oldest_unsent_record_age_seconds", "gauge", "Age of the oldest record waiting to be delivered.",
			func(f agent.FlowStats) float64 { return f.OldestUnsentRecordAge.Seconds() }},
		{"shardwise_agent_last_delivery_timestamp_seconds", "gauge", "When a record of the flow was last delivered, in seconds since the epoch (0: never).",
			func(f agent.FlowStats) float64 {
				if f.LastDelivery.IsZero() {
					return 0
				}
				return float64(f.LastDelivery.UnixNano()) / 1e9
			}},
		{"shardwise_agent_files", "gauge", "Files the flow tracks.",
			func(f agent.FlowStats) float64 { return float64(f.Files) }},
	}
	for _, fam := range families {
		p.Family(fam.name, fam.typ, fam.help)
		for _, f := range s.Flows {
			p.Sample(fam.name, fam.value(f), "file_pattern", f.FilePattern, "destination", destination(f))
		}
	}
	return p.Flush()
}

// destination names a flow's destination as the Kinesis Agent's Destination dimension does.
func destination(f agent.FlowStats) string {
	if f.Firehose {
		return "DeliveryStream:" + f.Destination
	}
	return "KinesisStream:" + f.Destination
}

// Handler serves the figures of src in the Prometheus text format (GET /metrics).
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", promtext.ContentType)
		_ = WritePrometheus(w, src()) // the scraper went away: nothing to tell it
	})
}
