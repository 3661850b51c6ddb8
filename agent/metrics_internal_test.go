package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/kpl"
)

// TestConsecutiveProcessingErrors: the figure counts polls that met an error (several errors in
// one poll count once) and drops to 0 after a poll without one, as the Kinesis Agent's does;
// io.EOF ends a read without being an error.
func TestConsecutiveProcessingErrors(t *testing.T) {
	m := newFlowMetrics(Flow{FilePattern: "/x", KinesisStream: "s"}, &hooks{})
	polls := []struct {
		errs []error
		want int64
	}{
		{nil, 0},
		{[]error{io.EOF}, 0},
		{[]error{errors.New("EIO")}, 1},
		{[]error{errors.New("EIO"), os.ErrPermission}, 2},
		{[]error{os.ErrPermission}, 3},
		{[]error{io.EOF}, 0},
		{[]error{errors.New("EIO")}, 1},
	}
	for i, p := range polls {
		for _, err := range p.errs {
			m.readEnded(err)
		}
		m.pollDone()
		if got := m.stats(time.Now()).ConsecutiveProcessingErrors; got != p.want {
			t.Errorf("poll %d (errors %v): ConsecutiveProcessingErrors = %d, want %d", i, p.errs, got, p.want)
		}
	}
	var nilMetrics *flowMetrics // flows built without figures (tests) must not crash
	nilMetrics.processingError()
	nilMetrics.pollDone()
	nilMetrics.delivered(3, time.Now())
	nilMetrics.sendCall(1, 0, false)
}

// acceptClient accepts every PutRecords entry.
type acceptClient struct{ nopClient }

func (acceptClient) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for i := range in.Records {
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(strconv.Itoa(i + 1))})
	}
	return out, nil
}

// TestProgressLine checks in fake time that the progress line is logged every
// log.statusReportingPeriodSeconds (default 30s) and once at shutdown, with the figures.
func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		period time.Duration
		run    time.Duration
		want   int // lines while running, the one at shutdown excluded
	}{
		{"default 30s", 0, 95 * time.Second, 3},
		{"statusReportingPeriodSeconds 10", 10 * time.Second, 35 * time.Second, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "app.log")
			if err := os.WriteFile(live, []byte("one\ntwo\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				var logs syncBuffer
				log := slog.New(slog.NewJSONHandler(&logs, nil))
				cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"), StatusReportingPeriod: tc.period,
					Flows: []Flow{{FilePattern: live, KinesisStream: "s", InitialPosition: StartOfFile}}}
				a, err := New(cfg, acceptClient{}, PollInterval(time.Second), ShutdownTimeout(time.Second), WithLogger(log))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- a.Run(ctx) }()
				time.Sleep(tc.run)
				synctest.Wait()
				if got := strings.Count(logs.String(), `"msg":"progress"`); got != tc.want {
					t.Errorf("%d progress lines after %v, want %d:\n%s", got, tc.run, tc.want, logs.String())
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				out := logs.String()
				if got := strings.Count(out, `"msg":"progress"`); got != tc.want+1 {
					t.Errorf("%d progress lines after the stop, want %d", got, tc.want+1)
				}
				last := out[strings.LastIndex(out, `"msg":"progress"`):]
				for _, want := range []string{`"records_parsed":2`, `"bytes_parsed":8`, `"records_sent":2`, `"records_pending":0`, `"bytes_behind":0`, `"uptime":"` + tc.run.String() + `"`} {
					if !strings.Contains(last, want) {
						t.Errorf("last progress line lacks %s: %s", want, last)
					}
				}
			})
		})
	}
}

// TestFirehoseSendFigures: a Firehose flow's sender counts its PutRecordBatch calls as the Kinesis
// Agent's FirehoseSender does: records carried (RecordSendAttempts), entries returned as failed
// (RecordSendErrors), and calls failed as a whole (ServiceErrors, whose records count as attempts
// only).
func TestFirehoseSendFigures(t *testing.T) {
	c := &fakeFirehose{}
	var failOnce sync.Map
	c.fail = func(d []byte) bool { // "bad" fails at its first attempt only
		_, seen := failOnce.LoadOrStore(string(d), true)
		return string(d) == "bad" && !seen
	}
	f := Flow{FilePattern: "/x", DeliveryStream: "fh", MaxBufferAge: time.Hour}
	m := newFlowMetrics(f, &hooks{})
	s := newFirehoseSender(c, f, backoff.Policy{Base: time.Millisecond, Max: time.Millisecond}, slog.New(slog.DiscardHandler), m)
	for _, d := range []string{"a", "bad", "c"} {
		s.PutAsync(context.Background(), kpl.Record{Data: []byte(d)})
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.callErr = errors.New("connection reset")
	c.mu.Unlock()
	fut := s.PutAsync(context.Background(), kpl.Record{Data: []byte("d")})
	s.Flush(context.Background())
	if _, err := fut.Wait(context.Background()); err == nil {
		t.Fatal("the record of failing calls was delivered")
	}
	s.Close()
	got := m.stats(time.Now())
	// Calls: [a bad c] (bad fails), [bad], then firehoseAttempts calls of [d] failing as a whole.
	want := FlowStats{FilePattern: "/x", Destination: "fh", Firehose: true,
		SendCalls: 2 + firehoseAttempts, RecordSendAttempts: 3 + 1 + firehoseAttempts, RecordSendErrors: 1, ServiceErrors: firehoseAttempts}
	if got != want {
		t.Errorf("figures\n got %+v\nwant %+v", got, want)
	}
}

func TestProgressLevel(t *testing.T) {
	for _, tc := range []struct {
		unread  int64
		stalled []string
		want    slog.Level
	}{
		{0, nil, slog.LevelInfo},
		{farBehind - 1, nil, slog.LevelInfo},
		{farBehind, nil, slog.LevelWarn},
		{0, []string{"/x -> s"}, slog.LevelWarn},
	} {
		if got, msg := progressLevel(tc.unread, tc.stalled); got != tc.want || !strings.HasPrefix(msg, "progress") {
			t.Errorf("progressLevel(%d, %v) = %v %q, want %v", tc.unread, tc.stalled, got, msg, tc.want)
		}
	}
}

// TestCloudWatchKeys: the cloudwatch.* keys and log.statusReportingPeriodSeconds are parsed (no
// longer logged as unsupported), emitMetrics defaults to true, bad values name their key, and an
// agent.d file sets what the main file leaves unset.
func TestCloudWatchKeys(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg, err := ParseConfig([]byte(`{
		"cloudwatch.emitMetrics": false, "cloudwatch.endpoint": "monitoring.eu-west-1.amazonaws.com",
		"cloudwatch.namespace": "Custom/Agent", "cloudwatch.tagInstance": true,
		"cloudwatch.metricsBufferTimeMillis": "60000", "cloudwatch.metricsQueueSize": 500,
		"log.statusReportingPeriodSeconds": 300,
		"flows": [{"filePattern": "/x", "kinesisStream": "s"}]}`), log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsEnabled() || cfg.CloudWatchEndpoint != "monitoring.eu-west-1.amazonaws.com" || cfg.CloudWatchNamespace != "Custom/Agent" ||
		!cfg.CloudWatchTagInstance || cfg.MetricsBufferTime != time.Minute || cfg.MetricsQueueSize != 500 || cfg.StatusReportingPeriod != 5*time.Minute {
		t.Errorf("parsed %+v", cfg)
	}
	if strings.Contains(logs.String(), "cloudwatch") || strings.Contains(logs.String(), "statusReporting") {
		t.Errorf("the keys were logged as unsupported or unknown:\n%s", logs.String())
	}
	cfg, err = ParseConfig([]byte(`{"flows": [{"filePattern": "/x", "kinesisStream": "s"}]}`), nil)
	if err != nil || !cfg.MetricsEnabled() || cfg.EmitMetrics != nil {
		t.Errorf("without the key: MetricsEnabled() = %v (err %v), want true as in the Kinesis Agent", cfg.MetricsEnabled(), err)
	}
	for key, value := range map[string]string{
		"cloudwatch.emitMetrics":             `"maybe"`,
		"cloudwatch.metricsBufferTimeMillis": `10`,
		"cloudwatch.metricsQueueSize":        `0`,
		"log.statusReportingPeriodSeconds":   `-1`,
		"cloudwatch.namespace":               `5`,
	} {
		_, err := ParseConfig([]byte(`{"`+key+`": `+value+`}`), nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != key {
			t.Errorf("%s: %s: err %v, want a *ConfigError naming the key", key, value, err)
		}
	}

	for _, c := range []Config{{MetricsBufferTime: -time.Second}, {MetricsQueueSize: -1}, {StatusReportingPeriod: -time.Second}} {
		c.Flows = []Flow{{FilePattern: "/x", KinesisStream: "s"}}
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "agent.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("agent.json", `{"cloudwatch.namespace": "Main", "flows": [{"filePattern": "/x", "kinesisStream": "s"}]}`)
	write("agent.d/extra.json", `{"cloudwatch.emitMetrics": false, "cloudwatch.namespace": "Other", "log.statusReportingPeriodSeconds": 60}`)
	cfg, err = LoadConfig(filepath.Join(dir, "agent.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsEnabled() || cfg.CloudWatchNamespace != "Main" || cfg.StatusReportingPeriod != time.Minute {
		t.Errorf("with agent.d: emit %v, namespace %q, period %v; want false (agent.d), Main (main file), 1m", cfg.MetricsEnabled(), cfg.CloudWatchNamespace, cfg.StatusReportingPeriod)
	}
}
