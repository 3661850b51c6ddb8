package agentmetrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
)

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// TestPrometheusText checks the exposition format: HELP and TYPE per family, counters and gauges
// per flow with escaped labels, and shardwise_agent_up 0 while no agent runs.
func TestPrometheusText(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := agent.Stats{Started: start, RecordsRead: 12, BytesRead: 340, CheckpointAge: 2500 * time.Millisecond,
		Flows: []agent.FlowStats{
			{FilePattern: `/var/log/"quoted"\dir/*.log`, Destination: "logs", RecordsSent: 10, BytesSent: 300, RecordSendAttempts: 11,
				RecordSendErrors: 1, BytesBehind: 40, PendingRecords: 2, OldestUnsentRecordAge: 1500 * time.Millisecond,
				LastDelivery: start.Add(time.Second)},
			{FilePattern: "/srv/app.log", Destination: "fh", Firehose: true, ServiceErrors: 3},
		}}
	code, body, hdr := get(t, Mux(func() agent.Stats { return s }, time.Minute), "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics = %d %q", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		"# HELP shardwise_agent_up 1 while an agent runs",
		"# TYPE shardwise_agent_up gauge\nshardwise_agent_up 1\n",
		"shardwise_agent_start_time_seconds 1.7e+09\n",
		"# TYPE shardwise_agent_records_read_total counter\nshardwise_agent_records_read_total 12\n",
		"shardwise_agent_bytes_read_total 340\n",
		"shardwise_agent_checkpoint_age_seconds 2.5\n",
		"# TYPE shardwise_agent_records_sent_total counter\n" +
			`shardwise_agent_records_sent_total{file_pattern="/var/log/\"quoted\"\\dir/*.log",destination="KinesisStream:logs"} 10` + "\n" +
			`shardwise_agent_records_sent_total{file_pattern="/srv/app.log",destination="DeliveryStream:fh"} 0` + "\n",
		`shardwise_agent_record_send_errors_total{file_pattern="/var/log/\"quoted\"\\dir/*.log",destination="KinesisStream:logs"} 1`,
		`shardwise_agent_service_errors_total{file_pattern="/srv/app.log",destination="DeliveryStream:fh"} 3`,
		"# TYPE shardwise_agent_bytes_behind gauge\n",
		`shardwise_agent_oldest_unsent_record_age_seconds{file_pattern="/var/log/\"quoted\"\\dir/*.log",destination="KinesisStream:logs"} 1.5`,
		`shardwise_agent_last_delivery_timestamp_seconds{file_pattern="/var/log/\"quoted\"\\dir/*.log",destination="KinesisStream:logs"} 1.700000001e+09`,
		`shardwise_agent_last_delivery_timestamp_seconds{file_pattern="/srv/app.log",destination="DeliveryStream:fh"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[0], "shardwise_agent_") {
			t.Errorf("line %d is not a sample: %q", i+1, line)
		}
	}

	_, body, _ = get(t, Handler(func() agent.Stats { return agent.Stats{} }), "/metrics")
	if !strings.Contains(body, "shardwise_agent_up 0\n") || strings.Contains(body, "records_sent") {
		t.Errorf("/metrics without an agent:\n%s", body)
	}
}

// TestHealth checks /healthz with a fixed clock: ok while deliveries go on or nothing waits, 503
// naming the flow once records have waited for the unhealthy time with no delivery, 503 while no
// agent runs.
func TestHealth(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	flow := agent.FlowStats{FilePattern: "/var/log/app.log", Destination: "logs"}
	cases := []struct {
		name     string
		stats    agent.Stats
		wantCode int
		want     string
	}{
		{"no agent", agent.Stats{}, 503, "agent not running"},
		{"idle", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{flow}}, 200, "ok"},
		{"idle for long, nothing waits", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{
			withLast(flow, now.Add(-time.Hour))}}, 200, "ok"},
		{"waiting, delivering", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{
			pending(withLast(flow, now.Add(-10*time.Second)), now.Add(-20*time.Minute))}}, 200, "ok"},
		{"waiting briefly after a long idle time", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{
			pending(withLast(flow, now.Add(-time.Hour)), now.Add(-time.Minute))}}, 200, "ok"},
		{"stalled", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{
			pending(withLast(flow, now.Add(-time.Hour)), now.Add(-6*time.Minute))}}, 503,
			"unhealthy: flow /var/log/app.log -> KinesisStream:logs: 3 records and 42 bytes waiting since 2026-12-04T11:54:00Z, last delivery 1h0m0s ago"},
		{"stalled, never delivered", agent.Stats{Started: now.Add(-time.Hour), Flows: []agent.FlowStats{
			pending(flow, now.Add(-5*time.Minute))}}, 503, "last delivery never"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.stats
			code, body, hdr := get(t, HealthHandler(func() agent.Stats { return st }, 5*time.Minute, clock), "/healthz")
			if code != tc.wantCode || !strings.Contains(body, tc.want) {
				t.Errorf("GET /healthz = %d %q, want %d containing %q", code, body, tc.wantCode, tc.want)
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
			}
		})
	}
}

func withLast(f agent.FlowStats, at time.Time) agent.FlowStats {
	f.LastDelivery = at
	return f
}

func pending(f agent.FlowStats, since time.Time) agent.FlowStats {
	f.PendingSince, f.PendingRecords, f.BytesBehind = since, 3, 42
	return f
}
