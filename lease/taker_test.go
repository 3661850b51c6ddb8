package lease

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// fleet builds lease states: owners[i] owns lease i ("" = unowned; a "java-" prefix makes a Java KCL
// worker's lease, without shardwiseOwner); expired marks expired leases.
func fleet(owners []string, expired ...int) []leaseState {
	out := make([]leaseState, len(owners))
	for i, o := range owners {
		l := Lease{Key: fmt.Sprintf("s%02d", i), Owner: o, Counter: int64(i)}
		if !strings.HasPrefix(o, "java-") {
			l.ShardwiseOwner = o
		}
		out[i] = leaseState{Lease: l, Unchanged: time.Second}
	}
	for _, i := range expired {
		out[i].Expired = true
		out[i].Unchanged = time.Duration(20+i) * time.Second
	}
	return out
}

func repeat(owner string, n int) []string { return slices.Repeat([]string{owner}, n) }

func keysOf(p takePlan) []string {
	var ks []string
	for _, c := range p.take {
		ks = append(ks, c.lease.Key)
	}
	return ks
}

func TestPlanTakes(t *testing.T) {
	tests := []struct {
		name                 string
		states               []leaseState
		maxSteal, maxLeases  int
		wantTarget, wantTake int
		wantStolen           int
		wantWorkers          int
	}{
		{"empty table", nil, 2, 0, 0, 0, 0, 0},
		{"alone with 8 unowned leases takes all", fleet(repeat("", 8)), 2, 0, 8, 8, 0, 1},
		{"max leases caps the target", fleet(repeat("", 8)), 2, 3, 3, 3, 0, 1},
		{"balanced 3/3/2, I hold 2: no steal", fleet(append(append(repeat("a", 3), repeat("b", 3)...), repeat("me", 2)...)), 2, 0, 3, 0, 0, 3},
		{"balanced 3/3/2, I hold 3: nothing", fleet(append(append(repeat("a", 3), repeat("b", 2)...), repeat("me", 3)...)), 2, 0, 3, 0, 0, 3},
		{"joining a 3/3/2 fleet steals 2 (one from each 3-holder)", fleet(append(append(repeat("a", 3), repeat("b", 3)...), repeat("c", 2)...)), 2, 0, 2, 2, 2, 4},
		{"steal cap 1", fleet(append(append(repeat("a", 3), repeat("b", 3)...), repeat("c", 2)...)), 1, 0, 2, 1, 1, 4},
		{"steal cap 0 disables stealing", fleet(append(append(repeat("a", 3), repeat("b", 3)...), repeat("c", 2)...)), 0, 0, 2, 0, 0, 4},
		{"3/3/3/1: the one with 1 steals one (victim at target, two more than me)", fleet(append(append(append(repeat("a", 3), repeat("b", 3)...), repeat("c", 3)...), repeat("me", 1)...)), 2, 0, 3, 1, 1, 4},
		{"8/0: steals up to the cap", fleet(repeat("a", 8)), 2, 0, 4, 2, 2, 2},
		{"expired leases do not count as their owner's", fleet(append(repeat("dead", 4), repeat("b", 4)...), 0, 1, 2, 3), 2, 0, 4, 4, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planTakes(tt.states, "me", tt.maxSteal, tt.maxLeases, nil)
			stolen := 0
			for _, c := range p.take {
				if c.reason == TakenStolen {
					stolen++
				}
				if c.lease.Owner == "me" {
					t.Errorf("plan takes my own live lease %s", c.lease.Key)
				}
			}
			if p.target != tt.wantTarget || len(p.take) != tt.wantTake || stolen != tt.wantStolen || p.workers != tt.wantWorkers {
				t.Errorf("plan: target %d, take %d (%v), stolen %d, workers %d; want %d, %d, %d, %d",
					p.target, len(p.take), keysOf(p), stolen, p.workers, tt.wantTarget, tt.wantTake, tt.wantStolen, tt.wantWorkers)
			}
		})
	}
}

func TestPlanTakesOrder(t *testing.T) {
	// Unowned first, then expired ones longest-unchanged first; limited by the target.
	st := fleet([]string{"x", "y", "", "z", "b", "b", "b", "b", "b", "b"}, 0, 1, 3)
	st[0].Unchanged, st[1].Unchanged, st[3].Unchanged = 30*time.Second, 90*time.Second, 60*time.Second
	p := planTakes(st, "me", 0, 0, nil)
	// workers = b + me = 2, target 5: take s02 (unowned), s01 (90s), s03 (60s), s00 (30s).
	if got := fmt.Sprint(keysOf(p)); got != "[s02 s01 s03 s00]" {
		t.Errorf("take order %s, want [s02 s01 s03 s00]", got)
	}
	if p.take[0].reason != TakenUnowned || p.take[1].reason != TakenExpired {
		t.Errorf("reasons %v %v", p.take[0].reason, p.take[1].reason)
	}
	// Skipped keys (recently released by me) are not taken.
	p = planTakes(st, "me", 0, 0, map[string]bool{"s02": true})
	if slices.Contains(keysOf(p), "s02") {
		t.Errorf("took a skipped lease: %v", keysOf(p))
	}
}

// Simulating take rounds with perfect information: starting from any assignment the fleet reaches counts
// that differ by at most one, and once there no round steals anything.
func TestPlanTakesConvergesWithoutThrashing(t *testing.T) {
	starts := map[string][]string{
		"all on one":    repeat("w0", 12),
		"all unowned":   repeat("", 12),
		"lopsided":      append(repeat("w0", 9), "w1", "w2", "w3"),
		"two of four":   append(repeat("w0", 6), repeat("w1", 6)...),
		"nearly even":   append(append(repeat("w0", 4), repeat("w1", 4)...), repeat("w2", 4)...),
		"three workers": append(repeat("w0", 11), "w1"),
	}
	workers := []string{"w0", "w1", "w2", "w3"}
	for name, owners := range starts {
		t.Run(name, func(t *testing.T) {
			st := fleet(owners)
			balancedAt := -1
			for round := range 30 {
				moved := false
				for _, w := range workers {
					p := planTakes(st, w, 2, 0, nil)
					for _, c := range p.take {
						i := slices.IndexFunc(st, func(s leaseState) bool { return s.Lease.Key == c.lease.Key })
						st[i].Lease.Owner, st[i].Lease.ShardwiseOwner = w, w // as Manager.Take writes
						moved = true
					}
				}
				counts := map[string]int{}
				for _, s := range st {
					counts[s.Lease.Owner]++
				}
				vs := slices.Collect(maps.Values(counts))
				balanced := len(counts) == len(workers) && slices.Max(vs)-slices.Min(vs) <= 1
				if balancedAt >= 0 && moved {
					t.Fatalf("round %d: leases moved after the fleet was balanced in round %d: %v", round, balancedAt, counts)
				}
				if balanced && balancedAt < 0 {
					balancedAt = round
				}
			}
			if balancedAt < 0 || balancedAt > 3 {
				t.Errorf("balanced in round %d, want within 4 rounds", balancedAt)
			}
		})
	}
}

// TestPlanTakesNeverAsksJavaWorkers: a Java KCL worker's live lease is never chosen for a (graceful)
// steal, and a leftover handoff request on it does not count for its requester; an expired one is taken.
func TestPlanTakesNeverAsksJavaWorkers(t *testing.T) {
	// target ceil(10/3) = 4; the steal choice is random, so plan many times.
	states := fleet(append(repeat("java-a", 6), repeat("w2", 4)...))
	for range 50 {
		p := planTakes(states, "me", 2, 0, nil)
		if len(p.take) != 1 {
			t.Fatalf("take %v, want 1 steal, from w2 (then w2 holds 3 < target)", keysOf(p))
		}
		for _, c := range p.take {
			if c.lease.Owner != "w2" || c.reason != TakenStolen {
				t.Fatalf("planned %s of %s (%v): a Java worker's live lease must not be requested", c.lease.Key, c.lease.Owner, c.reason)
			}
		}
	}
	// A request left on a Java-owned lease (by an older Shardwise) counts for the Java owner, not the requester.
	states = fleet(append(repeat("java-a", 4), "w2"))
	states[0].Lease.PendingOwner = "me"
	if p := planTakes(states, "me", 2, 0, nil); p.mine != 0 {
		t.Errorf("mine = %d, want 0: a request on a Java-owned lease is never honoured", p.mine)
	}
	// Expired Java leases are taken like any expired lease.
	states = fleet(repeat("java-a", 4), 0, 1, 2, 3)
	if p := planTakes(states, "me", 2, 0, nil); len(p.take) != 4 || p.take[0].reason != TakenExpired {
		t.Errorf("expired Java leases: take %v", keysOf(p))
	}
}
