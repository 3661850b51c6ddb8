package agent

import (
	"context"
	"log/slog"
	"time"
)

// progressInterval is how often Run logs the progress line: agent.json's
// log.statusReportingPeriodSeconds, else DefaultStatusReportingPeriod (30s, as the Kinesis Agent).
func (a *Agent) progressInterval() time.Duration {
	if a.cfg.StatusReportingPeriod > 0 {
		return a.cfg.StatusReportingPeriod
	}
	return DefaultStatusReportingPeriod
}

// farBehind is how many unread bytes make the progress line a Warn: the Kinesis Agent warns from
// ten times its 4 MiB parser buffer.
const farBehind = 40 << 20

// stalledAfter is how long a flow may have data to deliver while delivering nothing before the
// progress line is logged at Warn and names it.
const stalledAfter = 5 * time.Minute

// logProgress logs the progress line: one Info line with what was read, sent and is behind, as
// the Kinesis Agent logs its "Progress" line, at Warn when a flow has delivered nothing for
// stalledAfter while data waits or when farBehind bytes are not read yet.
func (a *Agent) logProgress() {
	s := a.Stats()
	now := time.Now()
	var behind, unread int64
	var pending int
	var oldest time.Duration
	var stalled []string
	for _, f := range s.Flows {
		behind += f.BytesBehind
		unread += f.BytesUnread
		pending += f.PendingRecords
		oldest = max(oldest, f.OldestUnsentRecordAge)
		if f.Stalled(now, stalledAfter) {
			stalled = append(stalled, f.FilePattern+" -> "+f.Destination)
		}
	}
	level, msg := progressLevel(unread, stalled)
	attrs := []slog.Attr{
		slog.Int64("records_parsed", s.RecordsRead),
		slog.Int64("bytes_parsed", s.BytesRead),
		slog.Int64("records_sent", s.RecordsSent),
		slog.Int64("records_failed", s.RecordsFailed),
		slog.Int("records_pending", pending),
		slog.Int64("bytes_behind", behind),
		slog.Int64("bytes_unread", unread),
		slog.String("oldest_unsent_age", oldest.Round(time.Millisecond).String()),
		slog.String("checkpoint_age", s.CheckpointAge.Round(time.Millisecond).String()),
		slog.String("uptime", now.Sub(s.Started).Round(time.Second).String()),
	}
	if len(stalled) > 0 {
		attrs = append(attrs, slog.Any("stalled_flows", stalled))
	}
	a.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// progressLevel chooses the progress line's level and message.
func progressLevel(unread int64, stalled []string) (slog.Level, string) {
	switch {
	case len(stalled) > 0:
		return slog.LevelWarn, "progress: nothing delivered for a while although records wait"
	case unread >= farBehind:
		return slog.LevelWarn, "progress: far behind the files"
	}
	return slog.LevelInfo, "progress"
}
