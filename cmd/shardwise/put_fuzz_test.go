package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// putFuzzSeeds are stdin inputs of `shardwise put --key-field F` and their F.
var putFuzzSeeds = []struct {
	in    string
	field string
}{
	{`{"user":"a","n":1}` + "\n" + `{"user":"b"}` + "\n", "user"},
	{`{"user":7}` + "\n" + `{"user":{"x":[1, 2]}}` + "\n" + `{"user":""}` + "\n", "user"},
	{"not json\n[1,2]\n{\"k\":null}\n\n", "k"},
	{`{"k":"\ud800"}` + "\r\n" + `{"k":"dup","k":"last"}`, "k"},
	{`{"` + strings.Repeat("x", 300) + `":"` + strings.Repeat("y", 300) + `"}`, strings.Repeat("x", 300)},
}

// FuzzPartitionKey: each line's partition key under `--key-field F` is the field's string value, or
// its JSON text for other values, as an independent decoding finds it; a line that is not a JSON
// object with a non-empty, non-null field fails with an error naming the flag.
func FuzzPartitionKey(f *testing.F) {
	for _, s := range putFuzzSeeds {
		f.Add([]byte(s.in), s.field)
	}
	f.Fuzz(func(t *testing.T, in []byte, field string) {
		if field == "" {
			return // --key-field "" is --key-field unset: random keys
		}
		checkKeys(t, in, putConfig{keyField: field})
	})
}

// checkKeys checks partitionKey on every line of in and returns the lines and their keys ("" for
// the lines that fail).
func checkKeys(t *testing.T, in []byte, c putConfig) (lines [][]byte, keys []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	keys = make([]string, len(lines))
	for i, line := range lines {
		key, err := partitionKey(c, line)
		want, ok := fieldText(line, c.keyField)
		switch {
		case err != nil && ok:
			t.Fatalf("line %q: error %v, but field %q holds %q", line, err, c.keyField, want)
		case err != nil:
			if !strings.HasPrefix(err.Error(), "--key-field "+c.keyField+": ") {
				t.Fatalf("line %q: error %q does not name --key-field", line, err)
			}
		case !ok || key != want:
			t.Fatalf("line %q: key %q, want %q (found %v)", line, key, want, ok)
		default:
			keys[i] = key
		}
	}
	return lines, keys
}

// FuzzPutKeyField: `shardwise put --key-field F` on any input, through a kinesistest stream: every
// line is either delivered byte for byte under its key (see FuzzPartitionKey) or counted as
// failed, and the summary's counts add up to the lines read. Each input costs a stream and a
// producer (a few executions a second); FuzzPartitionKey explores the key rules faster.
func FuzzPutKeyField(f *testing.F) {
	for _, s := range putFuzzSeeds {
		f.Add([]byte(s.in), s.field)
	}
	srv, err := kinesistest.NewServer()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	var streams atomic.Int64
	f.Fuzz(func(t *testing.T, in []byte, field string) {
		if field == "" {
			return // --key-field "" is --key-field unset: random keys
		}
		c := putConfig{keyField: field, linger: time.Millisecond, noAggregate: len(in)%2 == 0}
		lines, wantKeys := checkKeys(t, in, c)
		if len(lines) == 0 || len(in) > 1<<16 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stream := fmt.Sprintf("fuzz-%d", streams.Add(1))
		mustStream(t, ctx, kc, "create", stream, "--shards", "1")
		var errOut bytes.Buffer
		out, _ := putLines(ctx, kc, stream, c, bytes.NewReader(in), &errOut)
		if out.records != int64(len(lines)) {
			t.Fatalf("put read %d lines, want %d\n%s", out.records, len(lines), errOut.String())
		}
		got := readAllUser(t, kc, stream)
		delivered := 0
		for _, recs := range got {
			delivered += len(recs)
		}
		if int64(delivered)+out.failed != out.records {
			t.Fatalf("%d delivered + %d failed != %d lines\n%s", delivered, out.failed, out.records, errOut.String())
		}
		for i, line := range lines {
			if wantKeys[i] == "" {
				continue
			}
			if !containsString(got[wantKeys[i]], string(line)) && out.failed == 0 {
				t.Fatalf("line %q not delivered under key %q (got %q)", line, wantKeys[i], got)
			}
		}
	})
}

// fieldText decodes line with a json.Decoder (the last of duplicate fields wins, as in
// encoding/json) and returns field's string value, or the JSON text of other values as the line
// has it, as the partition key put must use; ok is false when there is none (absent, null, "").
func fieldText(line []byte, field string) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return "", false
	}
	raw, ok := obj[field]
	if !ok {
		return "", false
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, v != ""
	default:
		return string(raw), true
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
