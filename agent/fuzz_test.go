package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// FuzzSplitter: however a file's bytes arrive (all at once or in pieces), the splitter cuts the
// same records; with room for whole records they are exactly the file's complete lines (or groups
// of lines), ends are increasing, and finish hands over the rest.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint8(3), uint16(64), false)
	f.Add([]byte("1 start\n  more\n2 next\npartial"), uint8(1), uint16(64), true)
	f.Add([]byte("long line that is cut\nx\n"), uint8(5), uint16(4), false)
	f.Add([]byte("\n\n\n"), uint8(0), uint16(1), true)
	f.Fuzz(func(t *testing.T, data []byte, piece uint8, max uint16, multi bool) {
		var start *regexp.Regexp
		if multi {
			start = regexp.MustCompile(`^[0-9]`)
		}
		limit := int(max) + 1
		run := func(step int) []chunk {
			s := newSplitter(start, limit, 0, 0)
			var out []chunk
			emit := func(c chunk) { out = append(out, c) }
			for p := data; len(p) > 0; {
				n := min(step, len(p))
				s.feed(p[:n], emit)
				p = p[n:]
			}
			s.finish(emit)
			return out
		}
		whole, pieces := run(len(data)+1), run(int(piece)%17+1)
		if !reflect.DeepEqual(whole, pieces) {
			t.Fatalf("fed whole: %+v\nfed in pieces of %d: %+v", whole, int(piece)%17+1, pieces)
		}
		var joined []byte
		var last int64
		for _, c := range whole {
			if c.end <= last || c.end > int64(len(data)) {
				t.Fatalf("chunk end %d after %d (input %d bytes)", c.end, last, len(data))
			}
			last = c.end
			if len(c.data) > limit {
				t.Fatalf("chunk of %d bytes kept, limit %d", len(c.data), limit)
			}
			if !c.truncated && !bytes.Equal(c.data, data[int(c.end)-len(c.data):c.end]) {
				t.Fatalf("chunk %q is not the input before offset %d", c.data, c.end)
			}
			joined = append(joined, c.data...)
		}
		if last != int64(len(data)) && len(data) > 0 {
			t.Fatalf("finish left bytes: last end %d of %d", last, len(data))
		}
		if len(data) <= limit && !bytes.Equal(joined, data) {
			t.Fatalf("records %q do not make up the input %q", joined, data)
		}
	})
}

// FuzzProcessors: no processing option panics on any record, and the JSON ones emit valid JSON
// objects ending with a newline.
func FuzzProcessors(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n", "  x  \n  y\n",
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "Mozilla"` + "\n",
		"Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages\n",
		"2025-03-12T12:00:08.123+01:00 host app[1]: msg\n",
		"\xff\xfe\"\\\x00\n",
		`{"a": 1, "instanceId": null}` + "\n",
	} {
		f.Add([]byte(s))
	}
	var procs []processor
	opts := []ProcessingOption{
		{OptionName: OptionSingleLine},
		{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b", "c"}},
		{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"x"}, Delimiter: `\t`},
		{OptionName: OptionLogToJSON, LogFormat: "COMMONAPACHELOG"},
		{OptionName: OptionLogToJSON, LogFormat: "COMBINEDAPACHELOG"},
		{OptionName: OptionLogToJSON, LogFormat: "APACHEERRORLOG"},
		{OptionName: OptionLogToJSON, LogFormat: "SYSLOG"},
		{OptionName: OptionLogToJSON, LogFormat: "RFC3339SYSLOG"},
		{OptionName: OptionLogToJSON, LogFormat: "SYSLOG", MatchPattern: `^(\w+) (.*)$`, CustomFieldNames: []string{"first", "rest"}},
		{OptionName: OptionAddMetadata, Timestamp: true, Metadata: []byte(`{"k": ["v", 1]}`)},
		{OptionName: OptionAddBrackets},
		{OptionName: OptionAddEC2Metadata},
		{OptionName: OptionSingleLine, ParseOptions: []string{ParseNoTrim, ParseEscapeNewLine}},
		{OptionName: OptionCSVToJSON, CustomFieldNames: []string{"a", "b"}, JSONFormat: JSONFormatPrettyPrint},
		{OptionName: OptionAddMetadata, Metadata: []byte(`{"k": [{}, []]}`), JSONFormat: JSONFormatPrettyPrint},
		{OptionName: OptionAddEC2Metadata, JSONFormat: JSONFormatPrettyPrint},
	}
	for _, o := range opts {
		p, err := newProcessor(o, "")
		if err != nil {
			f.Fatalf("%+v: %v", o, err)
		}
		if ec2, ok := p.(*addEC2Metadata); ok {
			ec2.fetch = func(context.Context, *slog.Logger) (ec2Metadata, error) {
				return ec2Metadata{fields: []string{"instanceId", "tags"}, values: [][]byte{[]byte(`"i-1"`), []byte(`{"a":"b"}`)}}, nil
			}
		}
		procs = append(procs, p)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		_, _, recIsObject := jsonObjectFields(rec)
		for i, p := range procs {
			out, ok := p.process(bytes.Clone(rec))
			switch name := opts[i].OptionName; {
			case !ok || name == OptionSingleLine:
				continue
			case name == OptionAddBrackets:
				if !bytes.Equal(out, append(append([]byte("{"), rec...), '}')) {
					t.Fatalf("ADDBRACKETS on %q: %q", rec, out)
				}
				continue
			case name == OptionAddEC2Metadata && !recIsObject:
				if !bytes.Equal(out, rec) {
					t.Fatalf("ADDEC2METADATA changed a record that is not a JSON object: %q to %q", rec, out)
				}
				continue
			}
			if !bytes.HasSuffix(out, []byte("\n")) || !json.Valid(out) || out[0] != '{' {
				t.Fatalf("%s %s on %q: %q is not a JSON object line", opts[i].OptionName, opts[i].LogFormat, rec, out)
			}
		}
	})
}

// FuzzLoadCheckpoints: any checkpoint file either loads or fails with ErrCorruptCheckpoint, and
// what loads is written back and reloaded unchanged.
func FuzzLoadCheckpoints(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":[]}`))
	f.Add([]byte(`{"version":1,"files":[{"flow":"/l/*.log","path":"/l/a.log","dev":1,"inode":2,"offset":10}]}`))
	f.Add([]byte(`{"version":1,"flows":[{"filePattern":"/l/*.log","kinesisStream":"s","started":"2026-12-04T10:00:00+02:00"}],"files":[{"path":"/l/a.log","offset":1,"lastSeen":"2026-12-04T10:00:00.5+01:00"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "cp.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files, err := loadCheckpoints(path)
		if err != nil {
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("load error %v does not wrap ErrCorruptCheckpoint", err)
			}
			return
		}
		if err := writeCheckpoints(path, files); err != nil {
			t.Fatal(err)
		}
		again, err := loadCheckpoints(path)
		if err != nil || (len(files) > 0 || len(again) > 0) && !reflect.DeepEqual(files, again) {
			t.Fatalf("round trip: %+v, then %+v (%v)", files, again, err)
		}
	})
}
