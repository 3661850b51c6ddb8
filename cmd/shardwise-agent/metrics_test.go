package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/cwtest"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// setAWSTestEnv gives the SDK chain a region and static keys, and no shared files or IMDS.
func setAWSTestEnv(t *testing.T) {
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
}

// writeAgentJSON writes an agent.json with one flow tailing app.log (holding two lines) from its
// start into the stream "logs", plus the given top-level settings (JSON members, without braces).
func writeAgentJSON(t *testing.T, dir string, srv *kinesistest.Server, settings string) string {
	t.Helper()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "kinesis.endpoint": %q, %s
		"flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]}`,
		filepath.Join(dir, "cp.json"), srv.URL(), settings, logPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// TestRunCloudWatchMetrics runs the command with CloudWatch metrics on (the default), pointed at a
// fake CloudWatch by "cloudwatch.endpoint" or by AWS_ENDPOINT_URL_CLOUDWATCH: once it stops, the
// fake has received the Kinesis Agent's metrics for the two lines sent, with the Instance
// dimension of cloudwatch.tagInstance (the host name off EC2).
func TestRunCloudWatchMetrics(t *testing.T) {
	for _, how := range []string{"cloudwatch.endpoint", "AWS_ENDPOINT_URL_CLOUDWATCH"} {
		t.Run(how, func(t *testing.T) {
			setAWSTestEnv(t)
			srv, kc := logsServer(t)
			cw := cwtest.NewServer(t)
			settings := `"cloudwatch.tagInstance": true, "cloudwatch.metricsBufferTimeMillis": 1000,`
			if how == "cloudwatch.endpoint" {
				settings += fmt.Sprintf(`"cloudwatch.endpoint": %q,`, cw.URL())
			} else {
				t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", cw.URL())
			}
			cfgPath := writeAgentJSON(t, t.TempDir(), srv, settings)
			ctx, cancel := context.WithCancel(context.Background())
			var stderr lockedBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"-c", cfgPath}, &bytes.Buffer{}, &stderr,
					agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
			}()
			waitFor(t, "two records", func() bool { return countRecords(t, kc) == 2 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run = %v\n%s", err, stderr.String())
			}
			host, _ := os.Hostname()
			sums := map[string]float64{}
			var checkpointAge int
			for _, c := range cw.Calls() {
				if c.Namespace != "AWSKinesisAgent" {
					t.Errorf("namespace %q", c.Namespace)
				}
				for _, d := range c.Datums {
					if d.Dims["Instance"] != host {
						t.Errorf("%s: Instance %q, want the host name %q", d.Name, d.Dims["Instance"], host)
					}
					switch d.Dims["Destination"] {
					case "KinesisStream:logs":
						sums[d.Name] += d.Value
					case "":
						checkpointAge++
					}
				}
			}
			if sums["RecordsSent"] != 2 || sums["BytesSent"] != 12 || sums["RecordSendAttempts"] != 2 || sums["ServiceErrors"] != 0 {
				t.Errorf("sums over the run: %v; want 2 records, 12 bytes sent\n%s", sums, stderr.String())
			}
			if checkpointAge == 0 {
				t.Errorf("no CheckpointAge datum")
			}
		})
	}
}

var addrRE = regexp.MustCompile(`"msg":"metrics server listening[^\n]*"addr":"([^"]+)"`)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestRunMetricsServer runs the command with --metrics-addr: /metrics shows the lines sent,
// /healthz is ok, and once the stream refuses every call /healthz answers 503 after
// --unhealthy-after, naming the flow: a stalled agent no longer looks healthy.
func TestRunMetricsServer(t *testing.T) {
	setAWSTestEnv(t)
	srv, kc := logsServer(t)
	dir := t.TempDir()
	cfgPath := writeAgentJSON(t, dir, srv, `"cloudwatch.emitMetrics": false,`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-c", cfgPath, "--metrics-addr", "127.0.0.1:0", "--unhealthy-after", "500ms"}, &bytes.Buffer{}, &stderr,
			agent.PollInterval(10*time.Millisecond), agent.CheckpointInterval(20*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	var base string
	waitFor(t, "the metrics server's address in the log", func() bool {
		m := addrRE.FindStringSubmatch(stderr.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	})
	waitFor(t, "two records", func() bool { return countRecords(t, kc) == 2 })
	want := fmt.Sprintf(`shardwise_agent_records_sent_total{file_pattern=%q,destination="KinesisStream:logs"} 2`, filepath.Join(dir, "app.log"))
	waitFor(t, "/metrics to show 2 records sent", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return strings.Contains(body, want)
	})
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q while delivering", code, body)
	}

	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		return kinesistest.Action{Err: &kinesistest.Error{Code: "AccessDeniedException", Message: "denied by the test"}}, req.Op == "PutRecords"
	})
	f, err := os.OpenFile(filepath.Join(dir, "app.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("stuck\n")
	f.Close()
	var body string
	waitFor(t, "/healthz to answer 503", func() bool {
		var code int
		code, body = httpGet(t, base+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "KinesisStream:logs") || !strings.Contains(body, "1 records") {
		t.Errorf("/healthz body %q does not name the stalled flow", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("the metrics server still answers after run returned")
	}
}

func TestRunMetricsFlagErrors(t *testing.T) {
	setAWSTestEnv(t)
	srv, _ := logsServer(t)
	cfgPath := writeAgentJSON(t, t.TempDir(), srv, `"cloudwatch.emitMetrics": false,`)
	for _, args := range [][]string{
		{"-c", cfgPath, "--unhealthy-after", "0s"},
		{"-c", cfgPath, "--metrics-addr", "256.0.0.1:http"},
	} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), args[2]) {
			t.Errorf("run(%q) = %v, want an error naming %s", args, err, args[2])
		}
	}
}

// fixedStats is an agent stand-in for visibility.
type fixedStats struct{ s agent.Stats }

func (f *fixedStats) Stats() agent.Stats { return f.s }

// TestVisibilityAcrossReloads: after a reload the counters shown go on from the stopped agent's
// (they never go back), gauges are the running agent's, and a flow the reload removed is no longer
// shown but keeps its counters if a later reload brings it back.
func TestVisibilityAcrossReloads(t *testing.T) {
	a := agent.FlowStats{FilePattern: "/a", Destination: "logs"}
	b := agent.FlowStats{FilePattern: "/b", Destination: "other", Firehose: true}
	with := func(f agent.FlowStats, sent, behind int64) agent.FlowStats {
		f.RecordsSent, f.RecordSendAttempts, f.BytesSent, f.BytesBehind = sent, sent, 10*sent, behind
		return f
	}
	v := &visibility{}
	if s := v.stats(); !s.Started.IsZero() || len(s.Flows) != 0 {
		t.Fatalf("stats before an agent = %+v", s)
	}
	first := &fixedStats{agent.Stats{Started: time.Unix(100, 0), RecordsSent: 7, Flows: []agent.FlowStats{with(a, 5, 50), with(b, 2, 0)}}}
	v.setAgent(first)
	second := &fixedStats{agent.Stats{Started: time.Unix(200, 0), RecordsSent: 3, Flows: []agent.FlowStats{with(a, 3, 9)}}}
	v.setAgent(second) // b removed by the reload
	s := v.stats()
	if s.Started != time.Unix(200, 0) || s.RecordsSent != 10 || len(s.Flows) != 1 {
		t.Fatalf("after the first reload: %+v", s)
	}
	if f := s.Flows[0]; f.RecordsSent != 8 || f.RecordSendAttempts != 8 || f.BytesSent != 80 || f.BytesBehind != 9 {
		t.Errorf("flow a after the reload: %+v, want sent 5+3, bytes 50+30, behind 9 (the running agent's)", f)
	}
	third := &fixedStats{agent.Stats{Started: time.Unix(300, 0), RecordsSent: 1, Flows: []agent.FlowStats{with(a, 1, 0), with(b, 4, 0)}}}
	v.setAgent(third) // b back
	s = v.stats()
	if s.RecordsSent != 11 || len(s.Flows) != 2 || s.Flows[0].RecordsSent != 9 || s.Flows[1].RecordsSent != 6 {
		t.Errorf("after the second reload: %+v, want a 5+3+1, b 2+4", s)
	}
}

// TestInstanceTag: cloudwatch.tagInstance's Instance dimension is the EC2 instance ID from the
// instance metadata (IMDSv2), else the host name.
func TestInstanceTag(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "tok")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "tok":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/instance-id":
			io.WriteString(w, "i-0abc123def4567890\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	if got := instanceTag(context.Background(), discard); got != "i-0abc123def4567890" {
		t.Errorf("on EC2: instanceTag = %q, want the instance ID", got)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	if got := instanceTag(context.Background(), discard); got != host {
		t.Errorf("off EC2: instanceTag = %q, want the host name %q", got, host)
	}
}
