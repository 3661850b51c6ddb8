package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const fullConfig = `{
  "checkpointFile": "/var/lib/agent/cp.json",
  "kinesis.endpoint": "http://127.0.0.1:4567",
  "cloudwatch.emitMetrics": true,
  "awsAccessKeyId": "AKIDEXAMPLE",
  "awsSecretAccessKey": "SECRET-VALUE",
  "someFutureKey": 1,
  "flows": [
    {
      "filePattern": "/var/log/app/*.log",
      "kinesisStream": "logs",
      "partitionKeyOption": "DETERMINISTIC",
      "initialPosition": "START_OF_FILE",
      "maxBufferAgeMillis": "250",
      "maxBufferSizeRecords": 100,
      "maxBufferSizeBytes": 1048576,
      "skipHeaderLines": 2,
      "multiLineStartPattern": "\\d{4}-",
      "truncatedRecordTerminator": "...\n",
      "minTimeBetweenFilePollsMillis": 50,
      "unknownFlowKey": true,
      "dataProcessingOptions": [
        {"optionName": "SINGLELINE"},
        {"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": "|"},
        {"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}
      ]
    },
    {"filePattern": "/tmp/x.log", "kinesisStream": "other"}
  ]
}`

func TestParseConfig(t *testing.T) {
	var logs bytes.Buffer
	cfg, err := ParseConfig([]byte(fullConfig), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if cfg.CheckpointFile != "/var/lib/agent/cp.json" || cfg.KinesisEndpoint != "http://127.0.0.1:4567" || !cfg.MetricsEnabled() {
		t.Errorf("top-level settings = %+v", cfg)
	}
	if len(cfg.Flows) != 2 {
		t.Fatalf("got %d flows, want 2", len(cfg.Flows))
	}
	f := cfg.Flows[0]
	if f.FilePattern != "/var/log/app/*.log" || f.KinesisStream != "logs" || f.PartitionKeyOption != PartitionKeyDeterministic ||
		f.InitialPosition != StartOfFile || f.MaxBufferAge != 250*time.Millisecond || f.MaxBufferSizeRecords != 100 ||
		f.MaxBufferSizeBytes != 1<<20 || f.SkipHeaderLines != 2 || f.MultiLineStartPattern != `\d{4}-` ||
		f.TruncatedRecordTerminator == nil || *f.TruncatedRecordTerminator != "...\n" || f.MinTimeBetweenFilePolls != 50*time.Millisecond {
		t.Errorf("flow 0 = %+v", f)
	}
	if len(f.DataProcessingOptions) != 3 || f.DataProcessingOptions[1].Delimiter != "|" || f.DataProcessingOptions[2].LogFormat != "SYSLOG" {
		t.Errorf("processing options = %+v", f.DataProcessingOptions)
	}
	if g := cfg.Flows[1]; g.PartitionKeyOption != "" || g.InitialPosition != "" || g.TruncatedRecordTerminator != nil {
		t.Errorf("flow 1 defaults = %+v", g)
	}
	out := logs.String()
	for _, want := range []string{"someFutureKey", "flows[0].unknownFlowKey"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not mention %s:\n%s", want, out)
		}
	}
	if cfg.AWSAccessKeyID != "AKIDEXAMPLE" || cfg.AWSSecretAccessKey != "SECRET-VALUE" {
		t.Errorf("static keys = %q", cfg.AWSAccessKeyID)
	}
	if strings.Contains(out, "SECRET-VALUE") {
		t.Errorf("log shows a secret:\n%s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	flow := func(extra string) string {
		return `{"flows":[{"filePattern":"/tmp/*.log","kinesisStream":"s"` + extra + `}]}`
	}
	tests := []struct {
		name        string
		json        string
		field       string
		unsupported bool
	}{
		{"not json", `[1,2]`, "", false},
		{"no flows", `{"flows":[]}`, "flows", false},
		{"flows not array", `{"flows":{}}`, "flows", false},
		{"aggregated record too large", `{"flows":[{"filePattern":"/tmp/a","deliveryStream":"d","aggregatedRecordSizeBytes":1024001}]}`, "flows[0].aggregatedRecordSizeBytes", false},
		{"firehose with kpl aggregation", `{"flows":[{"filePattern":"/tmp/a","deliveryStream":"d","shardwise.aggregation":true}]}`, "flows[0].shardwise.aggregation", false},
		{"bad exclude", flow(`,"excludePattern":"[a"`), "flows[0].excludePattern", false},
		{"unmatched brace", `{"flows":[{"filePattern":"/tmp/*.{log,txt","kinesisStream":"s"}]}`, "flows[0].filePattern", false},
		{"java-only delimiter", flow(`,"dataProcessingOptions":[{"optionName":"CSVTOJSON","customFieldNames":["a"],"delimiter":"(?<=a),"}]`), "flows[0].dataProcessingOptions[0].delimiter", false},
		{"unterminated comment", `{"flows":[] /* no end`, "", false},
		{"both streams", flow(`,"deliveryStream":"d"`), "flows[0].deliveryStream", false},
		{"no stream", `{"flows":[{"filePattern":"/tmp/a"}]}`, "flows[0].kinesisStream", false},
		{"no pattern", `{"flows":[{"kinesisStream":"s"}]}`, "flows[0].filePattern", false},
		{"bad glob", `{"flows":[{"filePattern":"/tmp/[a","kinesisStream":"s"}]}`, "flows[0].filePattern", false},
		{"pattern not string", `{"flows":[{"filePattern":3,"kinesisStream":"s"}]}`, "flows[0].filePattern", false},
		{"partition key", flow(`,"partitionKeyOption":"HASH"`), "flows[0].partitionKeyOption", false},
		{"initial position", flow(`,"initialPosition":"MIDDLE"`), "flows[0].initialPosition", false},
		{"records too many", flow(`,"maxBufferSizeRecords":501`), "flows[0].maxBufferSizeRecords", false},
		{"records zero", flow(`,"maxBufferSizeRecords":"0"`), "flows[0].maxBufferSizeRecords", false},
		{"bytes too many", flow(`,"maxBufferSizeBytes":20000000`), "flows[0].maxBufferSizeBytes", false},
		{"age negative", flow(`,"maxBufferAgeMillis":-1`), "flows[0].maxBufferAgeMillis", false},
		{"age not number", flow(`,"maxBufferAgeMillis":"soon"`), "flows[0].maxBufferAgeMillis", false},
		{"age too long", flow(`,"maxBufferAgeMillis":9000000`), "flows[0].maxBufferAgeMillis", false},
		{"skip negative", flow(`,"skipHeaderLines":-2`), "flows[0].skipHeaderLines", false},
		{"multiline regexp", flow(`,"multiLineStartPattern":"(["`), "flows[0].multiLineStartPattern", false},
		{"option name", flow(`,"dataProcessingOptions":[{"optionName":"GZIP"}]`), "flows[0].dataProcessingOptions[0].optionName", true},
		{"option missing name", flow(`,"dataProcessingOptions":[{}]`), "flows[0].dataProcessingOptions[0].optionName", false},
		{"csv fields", flow(`,"dataProcessingOptions":[{"optionName":"CSVTOJSON"}]`), "flows[0].dataProcessingOptions[0].customFieldNames", false},
		{"csv fields type", flow(`,"dataProcessingOptions":[{"optionName":"CSVTOJSON","customFieldNames":"a"}]`), "flows[0].dataProcessingOptions[0].customFieldNames", false},
		{"log format missing", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON"}]`), "flows[0].dataProcessingOptions[0].logFormat", false},
		{"log format unknown", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"NGINX"}]`), "flows[0].dataProcessingOptions[0].logFormat", false},
		{"match without fields", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"(a)"}]`), "flows[0].dataProcessingOptions[0].customFieldNames", false},
		{"match group count", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"(a)(b)","customFieldNames":["x"]}]`), "flows[0].dataProcessingOptions[0].customFieldNames", false},
		{"match bad regexp", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"(","customFieldNames":["x"]}]`), "flows[0].dataProcessingOptions[0].matchPattern", false},
		{"custom field count", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"COMMONAPACHELOG","customFieldNames":["x"]}]`), "flows[0].dataProcessingOptions[0].customFieldNames", false},
		{"duplicate flows", `{"flows":[{"filePattern":"/a","kinesisStream":"s"},{"filePattern":"/a","kinesisStream":"s"}]}`, "flows[1]", false},
		{"emitMetrics type", `{"cloudwatch.emitMetrics":"maybe","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "cloudwatch.emitMetrics", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.json), nil)
			if err == nil {
				err = cfg.Validate()
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a *ConfigError", err)
			}
			if ce.Field != tt.field {
				t.Errorf("Field = %q, want %q (error %v)", ce.Field, tt.field, err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("errors.Is(%v, ErrInvalidConfig) = false", err)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v, want %v", err, got, tt.unsupported)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	cfg := Config{Flows: []Flow{{FilePattern: "/tmp/x", KinesisStream: "s"}}}
	tests := []struct {
		name string
		opt  Option
	}{
		{"logger", WithLogger(nil)},
		{"checkpoint interval", CheckpointInterval(0)},
		{"shutdown timeout", ShutdownTimeout(-1)},
		{"idle flush", IdleFlush(0)},
		{"record size", MaxRecordSize(10)},
		{"pending", MaxPendingRecords(0)},
		{"poll", PollInterval(-time.Second)},
		{"retry", RetryBackoff(time.Second, time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(cfg, nopClient{}, tt.opt); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New(%s) error = %v, want ErrInvalidConfig", tt.name, err)
			}
		})
	}
	if _, err := New(Config{}, nopClient{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(empty config) error = %v, want ErrInvalidConfig", err)
	}
	if _, err := New(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(nil client) error = %v, want ErrInvalidConfig", err)
	}
}
