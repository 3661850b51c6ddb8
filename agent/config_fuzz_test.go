package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// configSeeds are agent.json documents as users write them: the Java agent's examples, comments,
// numbers as strings, agent.d-style fragments, and malformed ones.
var configSeeds = []string{
	`{"flows":[{"filePattern":"/var/log/app/*.log","kinesisStream":"s"}]}`,
	`{
	  // the Java agent's parser allows comments
	  "cloudwatch.emitMetrics": false, /* and block ones */
	  "kinesis.endpoint": "kinesis.eu-west-1.amazonaws.com",
	  "awsAccessKeyId": "AKIAFUZZEXAMPLE00001",
	  "awsSecretAccessKey": "fuzzSecretKeyExample0000000000000000000",
	  "checkpointFile": "/var/lib/shardwise-agent/checkpoints.json",
	  "flows": [
	    {"filePattern": "/tmp/app.log*", "kinesisStream": "yourkinesisstream", "partitionKeyOption": "RANDOM",
	     "maxBufferAgeMillis": "1000", "skipHeaderLines": 1, "multiLineStartPattern": "^[0-9]",
	     "dataProcessingOptions": [
	       {"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"},
	       {"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": "\\t"},
	       {"optionName": "ADDMETADATA", "timestamp": "true", "metadata": {"k": [1, "v"]}}
	     ]}
	  ]
	}`,
	`{"flows":[{"filePattern":"/l/*.log","deliveryStream":"d","aggregatedRecordSizeBytes":1024}],"firehose.endpoint":"firehose.us-east-1.amazonaws.com"}`,
	`{"cloudwatch.metricsBufferTimeMillis":"60000","log.statusReportingPeriodSeconds":5,"checkpointTimeToLiveDays":7,"unknown":{"x":1}}`,
	`{"flows":[{"filePattern":"/l/*","kinesisStream":"s","dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"^(\\w+) (.*)$","customFieldNames":["a","b"]}]}]}`,
	`{"flows": "not an array"}`,
	`{"flows":[{"filePattern":"/l/*","kinesisStream":"s","maxBufferSizeRecords":0}]}`,
	`/* unterminated {"flows":[]}`,
	`[]`,
	`{"a":"// not a comment", "b":"/* nor this */"}`,
}

// secretLike is what a real secret access key looks like; only such values are searched for in the
// logs (a one-letter "secret" would match unrelated text).
var secretLike = regexp.MustCompile(`^[A-Za-z0-9+/=]{12,}$`)

// FuzzParseConfig: any agent.json document either parses or fails with a *ConfigError wrapping
// ErrInvalidConfig; comments in front of it change nothing; Validate fails only with a
// *ConfigError; and the secret access key never reaches the log, at any level.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg, err := ParseConfig(data, log)
		var ce *ConfigError
		if err != nil {
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParseConfig error %T %v is not a *ConfigError wrapping ErrInvalidConfig", err, err)
			}
		}
		commented := append([]byte("/* leading comment */ // and a line comment\n"), data...)
		cfg2, err2 := ParseConfig(commented, nil)
		if (err == nil) != (err2 == nil) || err == nil && !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("a leading comment changed the result: %+v (%v), then %+v (%v)", cfg, err, cfg2, err2)
		}
		if err != nil {
			return
		}
		if verr := cfg.Validate(); verr != nil && (!errors.As(verr, &ce) || !errors.Is(verr, ErrInvalidConfig)) {
			t.Fatalf("Validate error %T %v is not a *ConfigError", verr, verr)
		}
		if s := cfg.AWSSecretAccessKey; secretLike.MatchString(s) && strings.Contains(logs.String(), s) {
			t.Fatalf("the secret access key %q was logged: %s", s, logs.String())
		}
	})
}

// FuzzLoadConfigAgentD: agent.json plus one agent.d file either load, with the flows of both in
// order and the main file's settings winning, or fail with a *ConfigError that names the agent.d file
// when only that one is malformed.
func FuzzLoadConfigAgentD(f *testing.F) {
	for i, s := range configSeeds {
		f.Add([]byte(s), []byte(configSeeds[(i+1)%len(configSeeds)]))
	}
	// One directory for every input (each fuzzing worker is a process of its own): a temporary
	// directory per input made the minimisation of an interesting input crawl.
	dir, err := os.MkdirTemp("", "fuzz-agentd-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Mkdir(filepath.Join(dir, "agent.d"), 0o700); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, main, extra []byte) {
		path := filepath.Join(dir, "agent.json")
		if err := os.WriteFile(path, main, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "agent.d", "10-extra.json"), extra, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadConfig(path, nil)
		mainCfg, mainErr := ParseConfig(main, nil)
		extraCfg, extraErr := ParseConfig(extra, nil)
		var ce *ConfigError
		switch {
		case mainErr != nil || extraErr != nil:
			if err == nil || !errors.As(err, &ce) {
				t.Fatalf("LoadConfig = %v with main error %v, agent.d error %v", err, mainErr, extraErr)
			}
			if mainErr == nil && !strings.HasPrefix(ce.Field, "agent.d/10-extra.json") {
				t.Fatalf("agent.d error %q does not name the file", ce.Field)
			}
			return
		case err != nil:
			t.Fatalf("LoadConfig: %v, though both files parse", err)
		}
		want := append(append([]Flow{}, mainCfg.Flows...), extraCfg.Flows...)
		if len(want) > 0 && !reflect.DeepEqual(got.Flows, want) {
			t.Fatalf("flows %+v, want the main file's then agent.d's: %+v", got.Flows, want)
		}
		for _, s := range []struct{ name, got, main, extra string }{
			{"kinesis.endpoint", got.KinesisEndpoint, mainCfg.KinesisEndpoint, extraCfg.KinesisEndpoint},
			{"checkpointFile", got.CheckpointFile, mainCfg.CheckpointFile, extraCfg.CheckpointFile},
			{"awsSecretAccessKey", got.AWSSecretAccessKey, mainCfg.AWSSecretAccessKey, extraCfg.AWSSecretAccessKey},
		} {
			if want := cmpOr(s.main, s.extra); s.got != want {
				t.Fatalf("%s = %q, want %q (main %q, agent.d %q)", s.name, s.got, want, s.main, s.extra)
			}
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// FuzzProcessingOptions: any dataProcessingOptions array in agent.json either is refused with a
// *ConfigError (at parsing or validation) or builds processors that never panic on any record;
// the options that produce JSON (CSVTOJSON, LOGTOJSON, ADDMETADATA) produce one JSON object line.
func FuzzProcessingOptions(f *testing.F) {
	for _, s := range []string{
		`[{"optionName":"LOGTOJSON","logFormat":"COMMONAPACHELOG"}]`,
		`[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"^(\\w+) (.*)$","customFieldNames":["a","b"]}]`,
		`[{"optionName":"LOGTOJSON","logFormat":"APACHEERRORLOG","customFieldNames":["x"]}]`,
		`[{"optionName":"LOGTOJSON","logFormat":"RFC3339SYSLOG"}]`,
		`[{"optionName":"CSVTOJSON","customFieldNames":["a","b","c"],"delimiter":"|"}]`,
		`[{"optionName":"CSVTOJSON","customFieldNames":["a"],"delimiter":"\\t"}]`,
		`[{"optionName":"SINGLELINE"},{"optionName":"ADDMETADATA","timestamp":true,"metadata":{"k":"v"}}]`,
		`[{"optionName":"ADDBRACKETS"},{"optionName":"CSVTOJSON","customFieldNames":["a"],"delimiter":","}]`,
	} {
		f.Add([]byte(s), []byte("a,b,c\n"))
		f.Add([]byte(s), []byte(`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326`+"\n"))
		f.Add([]byte(s), []byte("Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages\n"))
	}
	f.Fuzz(func(t *testing.T, opts, rec []byte) {
		doc := `{"flows":[{"filePattern":"/var/log/x/*.log","kinesisStream":"s","dataProcessingOptions":` + string(opts) + `}]}`
		cfg, err := ParseConfig([]byte(doc), nil)
		if err == nil {
			err = cfg.Validate()
		}
		var ce *ConfigError
		if err != nil {
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			return
		}
		if len(cfg.Flows) != 1 {
			return // opts closed the flow early and added keys of its own: nothing to process
		}
		data := bytes.Clone(rec)
		for i, o := range cfg.Flows[0].DataProcessingOptions {
			p, err := newProcessor(o, "")
			if err != nil {
				t.Fatalf("option %d passed Validate but newProcessor fails: %v", i, err)
			}
			if o.OptionName == OptionAddEC2Metadata {
				return // reads the instance metadata: FuzzProcessors covers it with a fake
			}
			out, ok := p.process(data)
			if !ok {
				return
			}
			switch o.OptionName {
			case OptionCSVToJSON, OptionLogToJSON, OptionAddMetadata:
				if len(out) == 0 || out[0] != '{' || !bytes.HasSuffix(out, []byte("\n")) || !json.Valid(out) {
					t.Fatalf("%s on %q: %q is not a JSON object line", o.OptionName, data, out)
				}
			}
			data = out
		}
	})
}
