package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// consumeLine is a `shardwise consume --format jsonl` line for a payload.
func consumeLine(t *testing.T, shard string, data []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"shardId": shard, "sequenceNumber": "1", "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTallyCounts(t *testing.T) {
	tl := newTally()
	tl.setOrdered(1)
	for seq := range int64(5) {
		tl.produce(recordID(1, seq))
		tl.produce(recordID(2, seq))
	}
	at := time.Unix(100, 0)
	rec := func(prod int, seq int64, key string) []byte {
		return consumeLine(t, "s0", []byte(strings.TrimSuffix(string(recordLine(key, prod, seq, "m")), "\n")))
	}
	// Producer 1 (ordered): 0, 2, 1 (a violation), 2 again (a duplicate), 3; 4 lost.
	for _, seq := range []int64{0, 2, 1, 2, 3} {
		tl.line("w1", rec(1, seq, "k1"), at)
	}
	// Producer 2 (not ordered): out of order is not a violation; all five arrive.
	for _, seq := range []int64{4, 3, 2, 1, 0} {
		tl.line("w2", rec(2, seq, "k2"), at)
	}
	tl.line("w2", rec(3, 0, "k3"), at)             // nobody produced it
	tl.line("w2", []byte("not json"), at)          // junk output
	tl.consume("w1", "s0", []byte("line-1\n"), at) // an agent line nobody wrote
	c := tl.counts()
	if c.produced != 10 || c.unique != 9 || c.lost != 1 || c.dups != 1 || c.orderBad != 1 || c.junk != 3 {
		t.Errorf("counts %+v; want produced 10, unique 9, lost 1, dups 1, orderBad 1, junk 3", c)
	}
	if m := tl.missing(5); len(m) != 1 || m[0] != recordID(1, 4) {
		t.Errorf("missing %v, want [%s]", m, recordID(1, 4))
	}
	if tl.allConsumed() {
		t.Error("allConsumed with a record lost")
	}
}

func TestTallyAgentLines(t *testing.T) {
	tl := newTally()
	tl.produce("x-0000001")
	tl.consume("w1", "s0", []byte("x-0000001\n"), time.Now())
	if !tl.allConsumed() || tl.counts().junk != 0 {
		t.Errorf("an agent line (with its newline) not matched: %+v", tl.counts())
	}
}

func TestTallyLateAndGaps(t *testing.T) {
	tl := newTally()
	for i := range int64(6) {
		tl.produce(recordID(1, i))
	}
	t0 := time.Unix(1000, 0)
	data := func(seq int64) []byte { return []byte(strings.TrimSpace(string(recordLine("k", 1, seq, "m")))) }
	tl.stopBy("w1", t0.Add(5*time.Second))
	tl.measureGaps(t0, time.Time{})
	tl.consume("w1", "s0", data(0), t0.Add(time.Second))
	tl.consume("w1", "s0", data(1), t0.Add(4*time.Second))
	tl.consume("w1", "s1", data(2), t0.Add(6*time.Second)) // late
	tl.consume("w2", "s0", data(3), t0.Add(7*time.Second)) // w2 has no deadline
	tl.clearDeadline("w1")
	tl.consume("w1", "s0", data(4), t0.Add(8*time.Second))
	tl.endGaps(t0.Add(20 * time.Second))                    // s1 silent from +6s to +20s
	tl.consume("w1", "s0", data(5), t0.Add(40*time.Second)) // after the window: not measured
	c := tl.counts()
	if c.late["w1"] != 1 || c.late["w2"] != 0 {
		t.Errorf("late %v, want w1: 1", c.late)
	}
	if c.longestGap != 14*time.Second || c.gapShard != "s1" {
		t.Errorf("longest gap %v on %s, want 14s on s1", c.longestGap, c.gapShard)
	}
}

func TestSeqLess(t *testing.T) {
	if !seqLess("49000000000000000000000000000001", "49000000000000000000000000000002") {
		t.Error("1 < 2 not seen")
	}
	if seqLess("SHARD_END", "1") || seqLess("2", "TRIM_HORIZON") || seqLess("5", "5") {
		t.Error("sentinels or equal numbers compared as less")
	}
}

func TestVerdictKnown(t *testing.T) {
	r := &runner{known: []string{"b:per-key-order", "logcheck:consume:partition-key"}}
	cases := []struct {
		id     string
		broken []string
		want   string
		ok     bool
	}{
		{"b", nil, "PASS", true},
		{"b", []string{"per-key-order: 2 violations (k)"}, "KNOWN: per-key-order: 2 violations (k)", true},
		{"c", []string{"per-key-order: 2 violations (k)"}, "FAIL: per-key-order: 2 violations (k)", false},
		{"b", []string{"3 lost", "per-key-order: 1 violations"}, "FAIL: 3 lost; KNOWN: per-key-order: 1 violations", false},
		{"logcheck", []string{"consume:partition-key×3 in logs"}, "KNOWN: consume:partition-key×3 in logs", true},
		{"logcheck", []string{"consume:data×3 in logs"}, "FAIL: consume:data×3 in logs", false},
		{"logcheck", []string{"agent:partition-key×3 in logs"}, "FAIL: agent:partition-key×3 in logs", false},
	}
	for _, c := range cases {
		got, ok := r.verdict(c.id, c.broken)
		if got != c.want || ok != c.ok {
			t.Errorf("verdict(%s, %q) = %q, %v; want %q, %v", c.id, c.broken, got, ok, c.want, c.ok)
		}
	}
}
