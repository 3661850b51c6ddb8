package multilang

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kcl"
)

// TestDaemonMessagesGolden pins every message the daemon writes, byte for byte (the Java daemon's
// Jackson output: every field, nulls included, records with "action":"record").
func TestDaemonMessagesGolden(t *testing.T) {
	seq, sub := "4959", int64(2)
	cases := map[string]struct {
		got  []byte
		want string
	}{
		"initialize new shard": {initializeLine("shardId-000000000001", kcl.TrimHorizon),
			`{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`},
		"initialize checkpoint": {initializeLine("shardId-000000000001", kcl.Position{SequenceNumber: "4959", SubSequenceNumber: 3}),
			`{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"4959","subSequenceNumber":3}`},
		"initialize null checkpoint": {initializeLine("s", kcl.Position{}),
			`{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}`},
		"leaseLost":         {actionLine(actionLeaseLost), `{"action":"leaseLost"}`},
		"shardEnded":        {actionLine(actionShardEnded), `{"action":"shardEnded"}`},
		"shutdownRequested": {actionLine(actionShutdownRequested), `{"action":"shutdownRequested"}`},
		"checkpoint ok": {checkpointResponseLine(checkpointRequest{SequenceNumber: &seq, SubSequenceNumber: &sub}, ""),
			`{"action":"checkpoint","sequenceNumber":"4959","subSequenceNumber":2,"error":null}`},
		"checkpoint error": {checkpointResponseLine(checkpointRequest{}, errShutdown),
			`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":"ShutdownException"}`},
		"processRecords empty": {appendProcessRecords(nil, nil, 0),
			`{"action":"processRecords","millisBehindLatest":0,"records":[]}`},
		"processRecords": {appendProcessRecords(nil, []kcl.Record{{PartitionKey: `k"<>&`, Data: []byte{0, 255},
			Position: kcl.Position{SequenceNumber: "1", SubSequenceNumber: 7}}}, 1234),
			`{"action":"processRecords","millisBehindLatest":1234,"records":[{"data":"AP8=","partitionKey":"k\"<>&","sequenceNumber":"1","approximateArrivalTimestamp":0,"subSequenceNumber":7,"action":"record"}]}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if string(tc.got) != tc.want+"\n" {
				t.Errorf("got  %s\nwant %s", tc.got, tc.want)
			}
		})
	}
}

// TestChildMessages covers what children send: kclpy's shapes (both keys, blank lines around), the Node
// client's (no subSequenceNumber), numbers for strings, and lines that are skipped.
func TestChildMessages(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int64) *int64 { return &n }
	cases := []struct {
		line    string
		ok      bool
		want    childMessage
		invalid bool
	}{
		{`{"action":"status","responseFor":"processRecords"}`, true, childMessage{Action: "status", ResponseFor: "processRecords"}, false},
		{"  {\"action\": \"status\", \"responseFor\": \"initialize\"}\r\n", true, childMessage{Action: "status", ResponseFor: "initialize"}, false},
		{`{"action":"checkpoint","sequenceNumber":"4959","subSequenceNumber":0}`, true, childMessage{Action: "checkpoint", Checkpoint: checkpointRequest{SequenceNumber: str("4959"), SubSequenceNumber: num(0)}}, false},
		{`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}`, true, childMessage{Action: "checkpoint"}, false},
		{`{"action":"checkpoint","sequenceNumber":"4959"}`, true, childMessage{Action: "checkpoint", Checkpoint: checkpointRequest{SequenceNumber: str("4959")}}, false},
		{`{"action":"checkpoint","sequenceNumber":49590338271490256608559692538361571095921575989136588898,"subSequenceNumber":"3"}`, true,
			childMessage{Action: "checkpoint", Checkpoint: checkpointRequest{SequenceNumber: str("49590338271490256608559692538361571095921575989136588898"), SubSequenceNumber: num(3)}}, false},
		{`{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":"x","extra":{"a":1}}`, true, childMessage{Action: "checkpoint", Checkpoint: checkpointRequest{SequenceNumber: str("1")}}, true},
		{`{"action":"status"}`, false, childMessage{}, false},
		{`{"action":"record"}`, false, childMessage{}, false},
		{`print output`, false, childMessage{}, false},
		{``, false, childMessage{}, false},
		{`{"action":"checkpoint","sequenceNumber":{}}`, false, childMessage{}, false},
	}
	for _, tc := range cases {
		m, ok := parseChildLine([]byte(tc.line))
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.line, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if m.Action != tc.want.Action || m.ResponseFor != tc.want.ResponseFor || m.Checkpoint.subInvalid != tc.invalid ||
			!eqPtr(m.Checkpoint.SequenceNumber, tc.want.Checkpoint.SequenceNumber) ||
			!eqPtr(m.Checkpoint.SubSequenceNumber, tc.want.Checkpoint.SubSequenceNumber) {
			t.Errorf("%q: got %+v", tc.line, m)
		}
	}
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// FuzzProcessRecordsMatchesEncoder checks the hand-written processRecords encoding against
// encoding/json (SetEscapeHTML(false)) on the struct form of the same message.
func FuzzProcessRecordsMatchesEncoder(f *testing.F) {
	f.Add("pk", []byte("data"), "123", 0, int64(5), int64(1700000000000))
	f.Add("\u2028<\x00\xff\"\\", []byte{}, "9", 3, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, pk string, data []byte, seq string, sub int, behind, ms int64) {
		var at time.Time
		if ms != 0 {
			at = time.UnixMilli(ms)
		}
		recs := []kcl.Record{{PartitionKey: pk, Data: data, ApproximateArrival: at, Position: kcl.Position{SequenceNumber: seq, SubSequenceNumber: sub}}}
		got := appendProcessRecords(nil, recs, behind)
		var arrival int64
		if !at.IsZero() {
			arrival = at.UnixMilli()
		}
		want := encodeLine(processRecordsMessage{Action: actionProcessRecords, MillisBehindLatest: behind, Records: []jsonRecord{{
			Data: base64.StdEncoding.EncodeToString(data), PartitionKey: pk, SequenceNumber: seq,
			ApproximateArrivalTimestamp: arrival, SubSequenceNumber: int64(sub), Action: actionRecord}}})
		if !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// BenchmarkAppendProcessRecords: the daemon's side of a 1,000-record batch of 100-byte records (the
// encoding BenchmarkMultilangChild's children decode).
func BenchmarkAppendProcessRecords(b *testing.B) {
	recs := make([]kcl.Record, 1000)
	for i := range recs {
		recs[i] = kcl.Record{PartitionKey: "pk-" + strconv.Itoa(i), Data: bytes.Repeat([]byte{'a'}, 100), ApproximateArrival: time.Now(),
			Position: kcl.Position{SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}}
	}
	buf := make([]byte, 0, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendProcessRecords(buf[:0], recs, 0)
	}
	b.SetBytes(int64(len(buf)))
}
