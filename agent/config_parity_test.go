package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
)

// awsSampleConfig is the shape of AWS's sample agent.json: comments, one Kinesis flow and one
// Firehose flow.
const awsSampleConfig = `{
  // Region and endpoints
  "cloudwatch.emitMetrics": true,
  "kinesis.endpoint": "",
  "kinesis.region": "eu-west-1", /* the stream's region */
  "firehose.endpoint": "",

  "flows": [
    {
      "filePattern": "/tmp/app.log*",
      "kinesisStream": "yourkinesisstream", // a URL-like "http://x" in a string stays: "//"
      "partitionKeyOption": "RANDOM"
    },
    {
      /* Firehose */
      "filePattern": "/tmp/app.log*",
      "deliveryStream": "yourdeliverystream"
    }
  ]
}`

func TestParseConfigComments(t *testing.T) {
	var logs bytes.Buffer
	cfg, err := ParseConfig([]byte(awsSampleConfig), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want the Firehose flow accepted", err)
	}
	if cfg.KinesisRegion != "eu-west-1" || len(cfg.Flows) != 2 || cfg.Flows[0].KinesisStream != "yourkinesisstream" || cfg.Flows[1].DeliveryStream != "yourdeliverystream" {
		t.Errorf("parsed %+v", cfg)
	}
	if strings.Contains(logs.String(), "kinesis.region") {
		t.Errorf("kinesis.region logged as unsupported:\n%s", logs.String())
	}
	cfg, err = ParseConfig([]byte(`{"flows":[{"filePattern":"/a//b/*.log","kinesisStream":"s/*x*/"}]}`), nil)
	if err != nil || cfg.Flows[0].FilePattern != "/a//b/*.log" || cfg.Flows[0].KinesisStream != "s/*x*/" {
		t.Errorf("comment markers inside strings: %+v, %v", cfg, err)
	}
}

// TestNewFirehoseFlows: the sample's Firehose flow runs beside the Kinesis one when New has a
// Firehose client, and New names the flow when it has none.
func TestNewFirehoseFlows(t *testing.T) {
	cfg, err := ParseConfig([]byte(awsSampleConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nopClient{}); err == nil || !strings.Contains(err.Error(), "flows[1].deliveryStream") {
		t.Errorf("New without a Firehose client = %v, want an error naming flows[1].deliveryStream", err)
	}
	a, err := New(cfg, nopClient{}, WithFirehose(nopFirehose{}))
	if err != nil {
		t.Fatalf("New = %v, want both flows to run", err)
	}
	if len(a.cfg.Flows) != 2 || a.cfg.Flows[1].streamKey() != "firehose:yourdeliverystream" {
		t.Errorf("flows %+v, want the Kinesis and the Firehose flow", a.cfg.Flows)
	}
}

type nopFirehose struct{}

func (nopFirehose) PutRecordBatch(context.Context, *firehose.PutRecordBatchInput, ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	return &firehose.PutRecordBatchOutput{}, nil
}

func TestLoadConfigAgentD(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "agent.json")
	writeTestFile(t, main, `{"checkpointFile": "/var/cp.json", // main
		"flows": [{"filePattern": "/var/log/a.log", "kinesisStream": "a"}]}`)
	if err := os.Mkdir(filepath.Join(dir, "agent.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "agent.d", "20-c.json"), `{"flows": [{"filePattern": "/var/log/c.log", "kinesisStream": "c"}]}`)
	writeTestFile(t, filepath.Join(dir, "agent.d", "10-b.json"), `{"checkpointFile": "/other.json", "kinesis.region": "us-west-2",
		/* b */ "flows": [{"filePattern": "/var/log/b.log", "kinesisStream": "b"}]}`)
	writeTestFile(t, filepath.Join(dir, "agent.d", "notes.txt"), `not json`)
	var logs bytes.Buffer
	cfg, err := LoadConfig(main, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var streams []string
	for _, f := range cfg.Flows {
		streams = append(streams, f.KinesisStream)
	}
	if strings.Join(streams, ",") != "a,b,c" || cfg.CheckpointFile != "/var/cp.json" || cfg.KinesisRegion != "us-west-2" {
		t.Errorf("merged config: streams %v, checkpointFile %q, region %q", streams, cfg.CheckpointFile, cfg.KinesisRegion)
	}
	if !strings.Contains(logs.String(), "checkpointFile") {
		t.Errorf("the conflicting checkpointFile of agent.d/10-b.json is not logged:\n%s", logs.String())
	}

	writeTestFile(t, filepath.Join(dir, "agent.d", "30-bad.json"), `{"flows": [{"filePattern": 3}]}`)
	_, err = LoadConfig(main, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "agent.d/30-bad.json: flows[0].filePattern" {
		t.Errorf("LoadConfig with a bad agent.d file = %v, want a *ConfigError naming the file and field", err)
	}
}

func TestGlobs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.log", "b.txt", "c.csv", "x.log", "app.log.1"} {
		writeTestFile(t, filepath.Join(dir, n), "")
	}
	tests := []struct {
		pattern string
		want    string
	}{
		{"*.{log,txt}", "a.log,b.txt,x.log"},
		{"[!x].log", "a.log"},
		{"{a,x}.{log,csv}", "a.log,x.log"},
		{"{a.log,app.log{,.1}}", "a.log,app.log.1"},
		{"*.\\{log\\}", ""},
	}
	for _, tt := range tests {
		g, err := compileGlob(filepath.Join(dir, tt.pattern))
		if err != nil {
			t.Errorf("compileGlob(%q) = %v", tt.pattern, err)
			continue
		}
		var got []string
		for _, p := range g.files() {
			got = append(got, filepath.Base(p))
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%q matches %v, want %s", tt.pattern, got, tt.want)
		}
	}
	ex, _ := compileGlob("*.{tmp,bak}")
	if !ex.match("/var/log/x.tmp") || ex.match("/var/log/x.log") {
		t.Error("excludePattern without a slash must match file names")
	}
	for _, bad := range []string{"{a,b", "a}", "[a"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("compileGlob(%q) accepted", bad)
		}
	}
}

func TestCompressedDetection(t *testing.T) {
	for _, n := range []string{"app.log.1.gz", "x.BZ2", "a.zip", "b.xz", "c.zst"} {
		if !compressedName(n) {
			t.Errorf("compressedName(%q) = false", n)
		}
	}
	if compressedName("app.log.1") || compressedName("gz.log") {
		t.Error("plain log names taken for compressed ones")
	}
	for _, h := range []string{"\x1f\x8b\x08\x00", "PK\x03\x04", "\xfd7zXZ\x00", "\x28\xb5\x2f\xfd", "BZh91AY&SY"} {
		if !compressedMagic([]byte(h)) {
			t.Errorf("compressedMagic(%q) = false", h)
		}
	}
	for _, h := range []string{"2024-01-01 line", "BZh is not bzip2", "PK only", ""} {
		if compressedMagic([]byte(h)) {
			t.Errorf("compressedMagic(%q) = true", h)
		}
	}
}

// TestWarnWhenPatternMatchesNothing checks in fake time that a pattern matching no file is
// reported at Warn after a minute, once.
func TestWarnWhenPatternMatchesNothing(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"), Flows: []Flow{{FilePattern: filepath.Join(dir, "*.{log,txt}"), KinesisStream: "s"}}}
		a, err := New(cfg, nopClient{}, PollInterval(100*time.Millisecond), ShutdownTimeout(time.Second),
			WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if strings.Contains(logs.String(), "matched no file") {
			t.Errorf("warned before a minute:\n%s", logs.String())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := strings.Count(logs.String(), "matched no file"); n != 1 {
			t.Errorf("%d warnings after a minute, want 1:\n%s", n, logs.String())
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := strings.Count(logs.String(), "matched no file"); n != 1 {
			t.Errorf("%d warnings after two minutes, want still 1", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestRotatedPartialLineWaitsIdleFlush checks in fake time that the partial last line of a
// rotated file is sent only once the file stayed unchanged for IdleFlush.
func TestRotatedPartialLineWaitsIdleFlush(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "app.log")
	writeTestFile(t, live, "one\nhalf")
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"), Flows: []Flow{{FilePattern: live, KinesisStream: "s", InitialPosition: StartOfFile}}}
		a, err := New(cfg, nopClient{}, PollInterval(100*time.Millisecond), IdleFlush(5*time.Second), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Second)
		synctest.Wait()
		if err := os.Rename(live, live+".1"); err != nil { // out of the pattern: rotated
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := a.Stats().RecordsRead; n != 1 {
			t.Errorf("4s after the last read (3s after the rotation): %d records, want 1 (the partial line waits)", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := a.Stats().RecordsRead; n != 2 {
			t.Errorf("6s after the last read: %d records, want 2", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestJavaDouble checks RANDOM partition keys are written as Java's Double.toString writes them.
func TestJavaDouble(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.0", 5: "5.0", 123456.789: "123456.789", 999999.9999999999: "999999.9999999999",
		0.001: "0.001", 1e-4: "1.0E-4", 1.5e-5: "1.5E-5", 604938.5731295842: "604938.5731295842",
	} {
		if got := javaDouble(v); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", v, got, want)
		}
	}
	for range 1000 {
		if k := randomKey(); len(k) > partitionKeyLen || len(k) == 0 {
			t.Fatalf("random key %q: length outside (0, %d]", k, partitionKeyLen)
		}
	}
}
