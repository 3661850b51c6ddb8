package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/internal/backoff"
)

// TestSingleLineParseOptions: SINGLELINE's parseOptions as in the Kinesis Agent: NO_TRIM keeps
// the blanks, ESCAPE_NEW_LINE joins with the three bytes \\n; lines are split as Java's
// String.split splits them (empty lines at the end dropped).
func TestSingleLineParseOptions(t *testing.T) {
	var logs bytes.Buffer
	cfg, err := ParseConfig([]byte(`{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s", "dataProcessingOptions": [
		{"optionName": "SINGLELINE"},
		{"optionName": "SINGLELINE", "parseOptions": ["NO_TRIM"]},
		{"optionName": "SINGLELINE", "parseOptions": ["ESCAPE_NEW_LINE"]},
		{"optionName": "SINGLELINE", "parseOptions": ["ESCAPE_NEW_LINE", "NO_TRIM", "LOUD"]}]}]}`),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "LOUD") {
		t.Errorf("no Warn for the unknown parseOptions value:\n%s", logs.String())
	}
	in := " at Foo.bar(Foo.java:1) \n\tat Baz.qux\n\n"
	want := []string{
		"at Foo.bar(Foo.java:1)at Baz.qux\n",
		" at Foo.bar(Foo.java:1) \tat Baz.qux\n",
		`at Foo.bar(Foo.java:1)\\nat Baz.qux` + "\n",
		` at Foo.bar(Foo.java:1) \\n` + "\tat Baz.qux\n",
	}
	for i, o := range cfg.Flows[0].DataProcessingOptions {
		p, err := newProcessor(o, "")
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := p.process([]byte(in)); string(out) != want[i] {
			t.Errorf("SINGLELINE %v on %q = %q, want %q", o.ParseOptions, in, out, want[i])
		}
	}
	p, _ := newProcessor(ProcessingOption{OptionName: OptionSingleLine, ParseOptions: []string{ParseEscapeNewLine}}, "")
	for in, want := range map[string]string{"\n": "\n", "": "\n", "\na\n": `\\na` + "\n", "a\n \n": `a\\n` + "\n"} {
		if out, _ := p.process([]byte(in)); string(out) != want {
			t.Errorf("ESCAPE_NEW_LINE on %q = %q, want %q", in, out, want)
		}
	}
}

// TestShutdownTimeoutMillis: agent.json's shutdownTimeoutMillis bounds the shutdown flush; the
// ShutdownTimeout option overrides it.
func TestShutdownTimeoutMillis(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"shutdownTimeoutMillis": "2500", "flows": [{"filePattern": "/l/*.log", "kinesisStream": "s"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointFile = filepath.Join(t.TempDir(), "cp.json")
	if cfg.ShutdownTimeout != 2500*time.Millisecond {
		t.Fatalf("ShutdownTimeout = %v", cfg.ShutdownTimeout)
	}
	a, err := New(cfg, nopClient{})
	if err != nil {
		t.Fatal(err)
	}
	if a.opts.shutdownTimeout != 2500*time.Millisecond {
		t.Errorf("shutdown timeout %v, want agent.json's 2.5s", a.opts.shutdownTimeout)
	}
	if a, _ = New(cfg, nopClient{}, ShutdownTimeout(time.Second)); a.opts.shutdownTimeout != time.Second {
		t.Errorf("shutdown timeout %v, want the option's 1s", a.opts.shutdownTimeout)
	}
	_, err = ParseConfig([]byte(`{"shutdownTimeoutMillis": 0, "flows": []}`), nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "shutdownTimeoutMillis" {
		t.Errorf("shutdownTimeoutMillis 0: %v, want a *ConfigError", err)
	}
}

// TestRetryKeys: retryInitialBackoffMillis and retryMaxBackoffMillis set the flow's backoff (the
// agent's re-sends, the Firehose sender's and the producer's); one alone takes the Kinesis
// Agent's default for the other; none keeps the agent's.
func TestRetryKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"flows": [
		{"filePattern": "/l/a.log", "kinesisStream": "s", "retryInitialBackoffMillis": 200, "retryMaxBackoffMillis": "4000"},
		{"filePattern": "/l/b.log", "kinesisStream": "s", "retryInitialBackoffMillis": 300},
		{"filePattern": "/l/c.log", "kinesisStream": "s"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	def := backoff.Policy{Base: time.Second, Max: 30 * time.Second}
	want := []backoff.Policy{{Base: 200 * time.Millisecond, Max: 4 * time.Second}, {Base: 300 * time.Millisecond, Max: 10 * time.Second}, def}
	for i, f := range cfg.Flows {
		if got := f.retryPolicy(def); got != want[i] {
			t.Errorf("flows[%d] backoff %+v, want %+v", i, got, want[i])
		}
	}
	cfg.CheckpointFile = filepath.Join(t.TempDir(), "cp.json")
	a, err := New(cfg, nopClient{})
	if err != nil {
		t.Fatal(err)
	}
	if fl := newFlow(a, cfg.Flows[0], nil, nil, time.Time{}); fl.retry != want[0] {
		t.Errorf("the flow's re-send backoff %+v, want %+v", fl.retry, want[0])
	}
	if n, m := len(a.producerOptions(cfg.Flows[0], nil)), len(a.producerOptions(cfg.Flows[2], nil)); n != m+1 {
		t.Errorf("producer options: %d with the retry keys, %d without; want one more (kpl.RetryBackoff)", n, m)
	}
	for _, bad := range []string{`"retryInitialBackoffMillis": 0`, `"retryMaxBackoffMillis": -5`} {
		_, err := ParseConfig([]byte(`{"flows": [{"filePattern": "/l/a.log", "kinesisStream": "s", `+bad+`}]}`), nil)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a *ConfigError", bad, err)
		}
	}
}

// TestFileFooterPatternConfig: the pattern must compile, and matches a whole record only.
func TestFileFooterPatternConfig(t *testing.T) {
	cfg := Config{Flows: []Flow{{FilePattern: "/l/a.log", KinesisStream: "s", FileFooterPattern: "(unclosed"}}}
	var ce *ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != "flows[0].fileFooterPattern" {
		t.Errorf("Validate = %v, want a *ConfigError on fileFooterPattern", err)
	}
	re, err := compileFooter(`END|^DONE$`)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"END": true, "THE END": false, "END.": false, "DONE": true, "x\nDONE": false} {
		if re.MatchString(s) != want {
			t.Errorf("footer END|^DONE$ on %q: %v, want %v", s, !want, want)
		}
	}
}

// TestEveryKinesisAgentKeyKnown: every key the Kinesis Agent reads (AgentConfiguration,
// AgentContext, FileFlow and its Kinesis and Firehose flows, the processing options) is either
// used or named as not supported; none is taken for an unknown key, and none stops the agent.
func TestEveryKinesisAgentKeyKnown(t *testing.T) {
	var logs bytes.Buffer
	_, err := ParseConfig([]byte(`{
		"checkpointFile": "/tmp/cp", "checkpointTimeToLiveDays": 7, "shutdownTimeoutMillis": 10000,
		"awsAccessKeyId": "a", "awsSecretAccessKey": "b", "assumeRoleARN": "arn:aws:iam::1:role/r", "assumeRoleExternalId": "x",
		"kinesis.endpoint": "", "kinesis.region": "eu-west-1", "firehose.endpoint": "", "cloudwatch.endpoint": "", "sts.endpoint": "",
		"cloudwatch.emitMetrics": true, "cloudwatch.tagInstance": false, "cloudwatch.metricsBufferTimeMillis": 30000,
		"cloudwatch.namespace": "AWSKinesisAgent", "cloudwatch.metricsQueueSize": 10000,
		"log.level": "INFO", "log.maxBackupIndex": 5, "log.maxFileSize": "10MB", "log.emitMetrics": true, "log.emitInternalMetrics": false,
		"log.statusReportingPeriodSeconds": 30,
		"maxSendingThreads": 4, "maxSendingThreadsPerCore": 12, "sendingThreadsKeepAliveMillis": 60000, "sendingThreadsMaxQueueSize": 100,
		"maxConnections": 50, "connectionTimeoutMillis": 10000, "connectionTTLMillis": -1, "socketTimeoutMillis": 50000,
		"useTcpKeepAlive": false, "useHttpGzip": false, "userAgent": "me", "userAgentOverride": "x",
		"checkpoints.queryTimeoutSeconds": 5, "checkpoints.connectionTimeoutSeconds": 5,
		"userDefinedCredentialsProvider.classname": "a.B", "userDefinedCredentialsProvider.location": "/b.jar",
		"flows": [{"filePattern": "/tmp/app.log*", "kinesisStream": "s", "partitionKeyOption": "RANDOM", "initialPosition": "END_OF_FILE",
			"maxBufferAgeMillis": 60000, "maxBufferSizeRecords": 500, "maxBufferSizeBytes": 4194304, "skipHeaderLines": 0,
			"multiLineStartPattern": "^\\d", "truncatedRecordTerminator": "\n", "minTimeBetweenFilePollsMillis": 100,
			"maxTimeBetweenFileTrackerRefreshMillis": 10000, "fileFooterPattern": "END", "retryInitialBackoffMillis": 100,
			"retryMaxBackoffMillis": 10000, "publishQueueCapacity": 100, "waitOnFullPublishQueueMillis": 1000,
			"waitOnEmptyPublishQueueMillis": 1000, "waitOnFullRetryQueueMillis": 1000, "log.emitInternalMetrics": false,
			"dataProcessingOptions": [
				{"optionName": "SINGLELINE", "parseOptions": ["NO_TRIM"]},
				{"optionName": "CSVTOJSON", "customFieldNames": ["a"], "delimiter": ",", "jsonFormat": "COMPACT"},
				{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "(.*)", "customFieldNames": ["m"], "jsonFormat": "PRETTYPRINT"},
				{"optionName": "ADDMETADATA", "timestamp": "true", "metadata": {"k": "v"}},
				{"optionName": "ADDEC2METADATA", "logFormat": "RFC3339SYSLOG", "metadataTTL": 3600}]},
			{"filePattern": "/tmp/app.log*", "deliveryStream": "d", "aggregatedRecordSizeBytes": 0}]}`),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "unknown") {
		t.Errorf("a Kinesis Agent key taken for an unknown one:\n%s", logs.String())
	}
}
