package agentmetrics

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/shardwise/shardwise/agent"
)

// promWriter writes the Prometheus text exposition format (version 0.0.4): a HELP and a TYPE line
// per family, then its samples.
type promWriter struct {
	w *bufio.Writer
}

// family starts a metric family; typ is "counter" or "gauge".
func (p promWriter) family(name, typ, help string) {
	p.w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	p.w.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample; labels are name, value pairs.
func (p promWriter) sample(name string, v float64, labels ...string) {
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(formatValue(v))
	p.w.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WritePrometheus writes the figures of s in the Prometheus text format. Per-flow families carry
// the labels file_pattern and destination ("KinesisStream:<stream>" or "DeliveryStream:<name>").
func WritePrometheus(w io.Writer, s agent.Stats) error {
	bw := bufio.NewWriter(w)
	p := promWriter{bw}
	agentCounter := func(name, help string, v int64) {
		p.family(name, "counter", help)
		p.sample(name, float64(v))
	}
	p.family("shardwise_agent_up", "gauge", "1 while an agent runs (0 between a reload's stop and start).")
	if s.Started.IsZero() {
		p.sample("shardwise_agent_up", 0)
		return bw.Flush()
	}
	p.sample("shardwise_agent_up", 1)
	p.family("shardwise_agent_start_time_seconds", "gauge", "When the running agent started, in seconds since the epoch.")
	p.sample("shardwise_agent_start_time_seconds", float64(s.Started.UnixNano())/1e9)
	agentCounter("shardwise_agent_records_read_total", "Records cut from files.", s.RecordsRead)
	agentCounter("shardwise_agent_bytes_read_total", "Bytes read from files.", s.BytesRead)
	agentCounter("shardwise_agent_records_failed_total", "Records rejected for good (invalid or too large) and skipped.", s.RecordsFailed)
	agentCounter("shardwise_agent_records_filtered_total", "Records a processing option dropped.", s.RecordsFiltered)
	agentCounter("shardwise_agent_records_truncated_total", "Records cut at the record size limit.", s.RecordsTruncated)
	agentCounter("shardwise_agent_records_retried_total", "Re-sends of records the producer had given up on.", s.RecordsRetried)
	agentCounter("shardwise_agent_checkpoints_written_total", "Checkpoint file writes.", s.CheckpointsWritten)
	p.family("shardwise_agent_checkpoint_age_seconds", "gauge", "Seconds since the checkpoint file last held every delivered offset.")
	p.sample("shardwise_agent_checkpoint_age_seconds", s.CheckpointAge.Seconds())

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
		p.family(fam.name, fam.typ, fam.help)
		for _, f := range s.Flows {
			p.sample(fam.name, fam.value(f), "file_pattern", f.FilePattern, "destination", destination(f))
		}
	}
	return bw.Flush()
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
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		WritePrometheus(w, src())
	})
}
