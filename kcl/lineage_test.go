package kcl

import (
	"slices"
	"testing"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/lease"
)

// The Java KCL's example lineage (HierarchicalShardSyncer docs):
//
//	0 1 2 3 4   5   - shards till epoch 102
//	\ / \ / |   |
//	 6   7  4   5   - shards from epoch 103 - 205
//	  \ /   |  / \
//	   8    4 9  10 - shards from epoch 206 (open - no ending sequenceNumber)
func javaExample() []shardInfo {
	sh := func(id string, open bool, parents ...string) shardInfo {
		return shardInfo{id: id, open: open, parents: parents}
	}
	return []shardInfo{
		sh("0", false), sh("1", false), sh("2", false), sh("3", false), sh("4", true), sh("5", false),
		sh("6", false, "0", "1"), sh("7", false, "2", "3"), sh("8", true, "6", "7"),
		sh("9", true, "5"), sh("10", true, "5"),
	}
}

func keys(ls []lease.Lease) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Key+"@"+l.Checkpoint)
	}
	return out
}

func TestPlanLeases(t *testing.T) {
	fin := func(k string) lease.Lease { return lease.Lease{Key: k, Checkpoint: lease.ShardEnd} }
	run := func(k string) lease.Lease { return lease.Lease{Key: k, Checkpoint: "4900"} }
	tests := []struct {
		name    string
		leases  []lease.Lease
		initial Position
		want    []string
	}{
		{"empty table, LATEST: open shards at the tip", nil, Latest, []string{"4@LATEST", "10@LATEST", "9@LATEST", "8@LATEST"}},
		{"empty table, TRIM_HORIZON: roots", nil, TrimHorizon, []string{"0@TRIM_HORIZON", "1@TRIM_HORIZON", "2@TRIM_HORIZON", "3@TRIM_HORIZON", "4@TRIM_HORIZON", "5@TRIM_HORIZON"}},
		{"empty table, AT_TIMESTAMP: roots", nil, AtTimestamp(testTime), []string{"0@AT_TIMESTAMP", "1@AT_TIMESTAMP", "2@AT_TIMESTAMP", "3@AT_TIMESTAMP", "4@AT_TIMESTAMP", "5@AT_TIMESTAMP"}},
		{"roots running: children wait", []lease.Lease{run("0"), run("1"), run("2"), run("3"), run("4"), run("5")}, TrimHorizon, nil},
		{"one parent of a merge finished: child created, waits for the other", []lease.Lease{fin("0"), run("1"), run("2"), run("3"), run("4"), fin("5")}, TrimHorizon, []string{"10@TRIM_HORIZON", "6@TRIM_HORIZON", "9@TRIM_HORIZON"}},
		{"parents deleted after children progressed: never recreated", []lease.Lease{run("6"), run("7"), run("4"), run("9"), run("10")}, TrimHorizon, nil},
		{"descendant leased: ancestors covered under LATEST too", []lease.Lease{run("8"), run("4"), run("9"), run("10")}, Latest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keys(planLeases(javaExample(), tt.leases, tt.initial))
			if !slices.Equal(got, tt.want) {
				t.Errorf("planLeases = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlanLeasesParentsFirst(t *testing.T) {
	shards := []shardInfo{{id: "c", parents: []string{"b"}}, {id: "b", parents: []string{"a"}}, {id: "a"}}
	got := planLeases(shards, []lease.Lease{{Key: "a", Checkpoint: lease.ShardEnd}}, TrimHorizon)
	if k := keys(got); !slices.Equal(k, []string{"b@TRIM_HORIZON"}) {
		t.Fatalf("planLeases = %v", k)
	}
	if !slices.Equal(got[0].ParentShardIDs, []string{"a"}) {
		t.Errorf("parents = %v", got[0].ParentShardIDs)
	}
}

func TestPlanCleanup(t *testing.T) {
	shards := javaExample()
	tests := []struct {
		name   string
		leases []lease.Lease
		want   []string
	}{
		{"children progressed", []lease.Lease{{Key: "5", Checkpoint: lease.ShardEnd}, {Key: "9", Checkpoint: "49"}, {Key: "10", Checkpoint: lease.ShardEnd}}, []string{"5@SHARD_END"}},
		{"a child not started", []lease.Lease{{Key: "5", Checkpoint: lease.ShardEnd}, {Key: "9", Checkpoint: "49"}, {Key: "10", Checkpoint: lease.TrimHorizon}}, nil},
		{"a child without lease", []lease.Lease{{Key: "5", Checkpoint: lease.ShardEnd}, {Key: "9", Checkpoint: "49"}}, nil},
		{"unfinished", []lease.Lease{{Key: "5", Checkpoint: "48"}, {Key: "9", Checkpoint: "49"}, {Key: "10", Checkpoint: "50"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(planCleanup(shards, tt.leases)); !slices.Equal(got, tt.want) {
				t.Errorf("planCleanup = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckCoverage(t *testing.T) {
	half, _ := aggregation.ParseHashKey("170141183460469231731687303715884105727")
	next, _ := aggregation.ParseHashKey("170141183460469231731687303715884105728")
	full := []shardInfo{
		{id: "a", open: true, rng: aggregation.HashRange{Start: aggregation.HashKey{}, End: half}},
		{id: "b", open: true, rng: aggregation.HashRange{Start: next, End: aggregation.MaxHashKey}},
	}
	if err := checkCoverage(full); err != nil {
		t.Errorf("full coverage: %v", err)
	}
	hole := []shardInfo{full[0], {id: "b", open: false, rng: full[1].rng}}
	if err := checkCoverage(hole); err == nil {
		t.Error("hole not detected")
	}
}

func TestComparePositions(t *testing.T) {
	tests := []struct {
		a, b Position
		want int
	}{
		{Position{SequenceNumber: "9"}, Position{SequenceNumber: "10"}, -1},
		{Position{SequenceNumber: "49000000000000000000000000001"}, Position{SequenceNumber: "49000000000000000000000000001", SubSequenceNumber: 1}, -1},
		{Position{SequenceNumber: "0049"}, Position{SequenceNumber: "49"}, 0},
		{Position{SequenceNumber: "50", SubSequenceNumber: 0}, Position{SequenceNumber: "49", SubSequenceNumber: 9}, 1},
	}
	for _, tt := range tests {
		if got := comparePositions(tt.a, tt.b); got != tt.want {
			t.Errorf("comparePositions(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
