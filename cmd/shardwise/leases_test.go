package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/lease"
)

type fixedLeases []lease.Lease

func (f fixedLeases) List(context.Context) ([]lease.Lease, error) { return f, nil }

func TestPrintLeases(t *testing.T) {
	ls := fixedLeases{
		{Key: "shardId-000000000000", Owner: "w1", Counter: 7, Checkpoint: "4959", CheckpointSubSequence: 3},
		{Key: "shardId-000000000002", Counter: 1, Checkpoint: lease.TrimHorizon, ParentShardIDs: []string{"shardId-000000000000", "shardId-000000000001"}},
	}
	var table, jsonl bytes.Buffer
	if err := printLeases(t.Context(), ls, "table", &table); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SHARD                 OWNER  COUNTER  CHECKPOINT    SUBSEQ  PARENTS",
		"shardId-000000000000  w1     7        4959          3       -",
		"shardId-000000000002  -      1        TRIM_HORIZON  0       shardId-000000000000,shardId-000000000001",
	}
	if got := strings.Split(strings.TrimSpace(table.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", table.String(), strings.Join(want, "\n"))
	}
	if err := printLeases(t.Context(), ls, "jsonl", &jsonl); err != nil {
		t.Fatal(err)
	}
	if first := strings.Split(jsonl.String(), "\n")[0]; first != `{"shard":"shardId-000000000000","owner":"w1","counter":7,"checkpoint":"4959","subSequence":3,"parents":[]}` {
		t.Errorf("jsonl line %s", first)
	}
}
