package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// The expected layouts below are what the Kinesis Agent's PrettyJSONPrinter (Jackson's
// ObjectMapper with its default pretty printer) writes for the same maps; appendPrettyJSON was
// also compared with it on 3,000 random nested objects, byte for byte.

func TestJSONFormatPrettyPrint(t *testing.T) {
	var logs bytes.Buffer
	cfg, err := ParseConfig([]byte(`{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s", "dataProcessingOptions": [
		{"optionName": "CSVTOJSON", "customFieldNames": ["a", "b", "c"], "jsonFormat": "PRETTYPRINT"},
		{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG", "jsonFormat": "PRETTYPRINT"},
		{"optionName": "ADDMETADATA", "jsonFormat": "PRETTYPRINT",
		 "metadata": {"key": "value", "foo": {"bar": "baz"}, "a": [1, 2], "e": {}, "l": [], "o": [{"x": 1}, {"y": []}], "s": "a:b, {c}"}},
		{"optionName": "CSVTOJSON", "customFieldNames": ["a"], "jsonFormat": "COMPACT"},
		{"optionName": "SINGLELINE", "jsonFormat": "PRETTYPRINT"}]}]}`),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v, want jsonFormat accepted", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "dataProcessingOptions[4].jsonFormat") {
		t.Errorf("no Warn for jsonFormat on SINGLELINE (which writes no JSON):\n%s", logs.String())
	}
	opts := cfg.Flows[0].DataProcessingOptions
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"CSVTOJSON", "1,x\n", "{\n  \"a\" : \"1\",\n  \"b\" : \"x\",\n  \"c\" : null\n}\n"},
		{"LOGTOJSON", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326` + "\n",
			"{\n  \"host\" : \"127.0.0.1\",\n  \"ident\" : null,\n  \"authuser\" : \"frank\",\n" +
				"  \"datetime\" : \"10/Oct/2000:13:55:36 -0700\",\n  \"request\" : \"GET /a.gif HTTP/1.0\",\n" +
				"  \"response\" : \"200\",\n  \"bytes\" : \"2326\"\n}\n"},
		{"ADDMETADATA", `say "hi", [x]` + "\n", `{
  "metadata" : {
    "key" : "value",
    "foo" : {
      "bar" : "baz"
    },
    "a" : [ 1, 2 ],
    "e" : { },
    "l" : [ ],
    "o" : [ {
      "x" : 1
    }, {
      "y" : [ ]
    } ],
    "s" : "a:b, {c}"
  },
  "data" : "say \"hi\", [x]"
}
`},
		{"CSVTOJSON COMPACT", "1,x\n", `{"a":"1"}` + "\n"},
		{"SINGLELINE", "  a \n", "a\n"},
	}
	for i, c := range cases {
		p, err := newProcessor(opts[i], "")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		out, ok := p.process([]byte(c.in))
		if !ok || string(out) != c.want {
			t.Errorf("%s on %q =\n%s(ok %v) want\n%s", c.name, c.in, out, ok, c.want)
		}
	}
}

func TestJSONFormatPrettyPrintEC2Metadata(t *testing.T) {
	p, err := newProcessor(ProcessingOption{OptionName: OptionAddEC2Metadata, JSONFormat: JSONFormatPrettyPrint}, "")
	if err != nil {
		t.Fatal(err)
	}
	p.(*addEC2Metadata).fetch = func(context.Context, *slog.Logger) (ec2Metadata, error) {
		return ec2Metadata{fields: []string{"instanceId", "tags"}, values: [][]byte{[]byte(`"i-1"`), []byte(`{"name":"web"}`)}}, nil
	}
	out, _ := p.process([]byte(`{"msg": "hi", "n": [1, {"k": {}}]}` + "\n"))
	want := `{
  "msg" : "hi",
  "n" : [ 1, {
    "k" : { }
  } ],
  "instanceId" : "i-1",
  "tags" : {
    "name" : "web"
  }
}
`
	if string(out) != want {
		t.Errorf("ADDEC2METADATA PRETTYPRINT =\n%s want\n%s", out, want)
	}
	// A record the option leaves alone keeps its bytes, as in the Kinesis Agent.
	if out, _ := p.process([]byte("plain\n")); string(out) != "plain\n" {
		t.Errorf("non-JSON record = %q, want it unchanged", out)
	}
}

// TestJSONFormatInvalid: a value other than COMPACT or PRETTYPRINT (the names are case-sensitive,
// as the Kinesis Agent's enum is) is a *ConfigError naming the key, for the options that write
// JSON; the others ignore the key.
func TestJSONFormatInvalid(t *testing.T) {
	for _, name := range []string{OptionCSVToJSON, OptionLogToJSON, OptionAddMetadata, OptionAddEC2Metadata} {
		cfg, err := ParseConfig([]byte(`{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s", "dataProcessingOptions": [
			{"optionName": "`+name+`", "customFieldNames": ["a"], "logFormat": "SYSLOG", "jsonFormat": "prettyprint"}]}]}`), nil)
		if err == nil {
			err = cfg.Validate()
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.HasSuffix(ce.Field, "dataProcessingOptions[0].jsonFormat") {
			t.Errorf("%s with jsonFormat \"prettyprint\": %v, want a *ConfigError on jsonFormat", name, err)
		}
	}
	if _, err := newProcessor(ProcessingOption{OptionName: OptionAddBrackets, JSONFormat: "whatever"}, ""); err != nil {
		t.Errorf("ADDBRACKETS with a jsonFormat: %v, want it ignored", err)
	}
}

// FuzzPrettyJSON: the pretty layout of any JSON value is valid JSON holding the same value (it
// compacts back to the same bytes), and only blanks outside strings were added.
func FuzzPrettyJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,{"b":[]}],"c":"x:y, {z}"}`, `"s"`, `[[[]],{}]`, `{"\"k\\":"\\\""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			appendPrettyJSON(nil, in) // must not panic
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, in); err != nil {
			t.Fatal(err)
		}
		pretty := appendPrettyJSON(nil, compact.Bytes())
		if !json.Valid(pretty) {
			t.Fatalf("pretty layout of %s is not valid JSON:\n%s", compact.Bytes(), pretty)
		}
		var back bytes.Buffer
		if err := json.Compact(&back, pretty); err != nil || !bytes.Equal(back.Bytes(), compact.Bytes()) {
			t.Fatalf("pretty layout of %s compacts to %s (%v)", compact.Bytes(), back.Bytes(), err)
		}
		if again := appendPrettyJSON(nil, pretty); !bytes.Equal(again, pretty) {
			t.Fatalf("laying out the pretty layout again changed it:\n%s\n%s", pretty, again)
		}
	})
}
