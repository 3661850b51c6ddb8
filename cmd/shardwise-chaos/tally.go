package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// payload is the data of every record a scenario's producers put: a unique (producer, seq) pair,
// the partition key (put --key-field k) and the run's data marker, which the log check greps for.
type payload struct {
	Key  string `json:"k"`
	Prod int    `json:"p"`
	Seq  int64  `json:"s"`
	Mark string `json:"d"`
}

// recordLine is one stdin line for `shardwise put`.
func recordLine(key string, prod int, seq int64, mark string) []byte {
	b, _ := json.Marshal(payload{Key: key, Prod: prod, Seq: seq, Mark: mark})
	return append(b, '\n')
}

func recordID(prod int, seq int64) string {
	return "p" + strconv.Itoa(prod) + ":" + strconv.FormatInt(seq, 10)
}

// consumedRecord is the part of a `shardwise consume --format jsonl` line the tally needs.
type consumedRecord struct {
	ShardID string `json:"shardId"`
	Data    []byte `json:"data"`
}

// tally counts what a scenario produced and what its consumers printed.
type tally struct {
	mu        sync.Mutex
	produced  map[string]bool // ids written to a producer (or a log file)
	seen      map[string]int  // id -> times consumed
	dups      int
	junk      int               // consumed records that no producer wrote
	ordered   map[int]bool      // producers whose keys must stay in order
	lastSeq   map[string]int64  // key -> seq of the newest record first seen for it
	lastWhere map[string]string // key -> worker/shard of that record
	orderBad  int
	orderEx   []string // the first few violations

	// per-shard arrival gaps, measured while gapFrom <= t <= gapTo
	gapFrom, gapTo time.Time
	lastAt         map[string]time.Time
	longestGap     time.Duration
	gapShard       string

	// records printed by a worker after a deadline set for it (a worker cut off from DynamoDB
	// must have stopped processing)
	deadline map[string]time.Time
	late     map[string]int
}

func newTally() *tally {
	return &tally{produced: map[string]bool{}, seen: map[string]int{}, ordered: map[int]bool{},
		lastSeq: map[string]int64{}, lastWhere: map[string]string{}, lastAt: map[string]time.Time{}, deadline: map[string]time.Time{}, late: map[string]int{}}
}

func (t *tally) produce(id string) {
	t.mu.Lock()
	t.produced[id] = true
	t.mu.Unlock()
}

// line handles one stdout line of a consumer (worker names it).
func (t *tally) line(worker string, line []byte, at time.Time) {
	var r consumedRecord
	if err := json.Unmarshal(line, &r); err != nil {
		t.mu.Lock()
		t.junk++
		t.mu.Unlock()
		return
	}
	t.consume(worker, r.ShardID, r.Data, at)
}

// consume counts one consumed record's data.
func (t *tally) consume(worker, shard string, data []byte, at time.Time) {
	var p payload
	var id, key string
	if len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &p) == nil && p.Key != "" {
		id, key = recordID(p.Prod, p.Seq), p.Key
	} else {
		id = strings.TrimSuffix(string(data), "\n") // an agent's log line
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.deadline[worker]; ok && at.After(d) {
		t.late[worker]++
	}
	if !t.gapFrom.IsZero() && !at.Before(t.gapFrom) && (t.gapTo.IsZero() || !at.After(t.gapTo)) {
		if last, ok := t.lastAt[shard]; ok {
			if g := at.Sub(last); g > t.longestGap {
				t.longestGap, t.gapShard = g, shard
			}
		}
		t.lastAt[shard] = at
	}
	if !t.produced[id] {
		t.junk++
		return
	}
	t.seen[id]++
	if t.seen[id] > 1 {
		t.dups++
		return
	}
	if key != "" && t.ordered[p.Prod] {
		where := worker + "/" + shard
		if last, ok := t.lastSeq[key]; ok && p.Seq < last {
			t.orderBad++
			if len(t.orderEx) < 3 {
				t.orderEx = append(t.orderEx, fmt.Sprintf("%s:%d(%s)after%d(%s)", key, p.Seq, where, last, t.lastWhere[key]))
			}
		}
		t.lastSeq[key] = p.Seq
		t.lastWhere[key] = where
	}
}

// setOrdered says producer prod asked for ordering (put --strict-ordering).
func (t *tally) setOrdered(prod int) {
	t.mu.Lock()
	t.ordered[prod] = true
	t.mu.Unlock()
}

// measureGaps measures the longest time between two records of one shard printed within
// [from, to] (to zero: open).
func (t *tally) measureGaps(from, to time.Time) {
	t.mu.Lock()
	t.gapFrom, t.gapTo = from, to
	t.mu.Unlock()
}

// endGaps closes the gap measurement at to: a shard silent since its last record counts up to to.
func (t *tally) endGaps(to time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gapTo = to
	for shard, last := range t.lastAt {
		if g := to.Sub(last); g > t.longestGap {
			t.longestGap, t.gapShard = g, shard
		}
	}
}

// stopBy sets a deadline after which worker must print nothing.
func (t *tally) stopBy(worker string, d time.Time) {
	t.mu.Lock()
	t.deadline[worker] = d
	t.mu.Unlock()
}

func (t *tally) clearDeadline(worker string) {
	t.mu.Lock()
	delete(t.deadline, worker)
	t.mu.Unlock()
}

// counts is a snapshot of the tally.
type counts struct {
	produced, unique, lost, dups, junk, orderBad int
	longestGap                                   time.Duration
	gapShard                                     string
	late                                         map[string]int
	orderEx                                      []string
}

func (t *tally) counts() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := counts{produced: len(t.produced), unique: len(t.seen), dups: t.dups, junk: t.junk, orderBad: t.orderBad,
		longestGap: t.longestGap, gapShard: t.gapShard, late: map[string]int{},
		orderEx: append([]string(nil), t.orderEx...)}
	c.lost = c.produced - c.unique
	for w, n := range t.late {
		c.late[w] = n
	}
	return c
}

// missing returns up to n produced ids never consumed (for the report of a failing run).
func (t *tally) missing(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id := range t.produced {
		if t.seen[id] == 0 {
			out = append(out, id)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// allConsumed reports whether every produced record was consumed at least once.
func (t *tally) allConsumed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen) == len(t.produced)
}

func mb(kb int64) string { return fmt.Sprintf("%dMB", (kb+512)/1024) }
