package kinesistest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shardwise/shardwise/aggregation"
)

// Stream and shard state. Locking: Server.mu guards the stream maps; stream.mu guards everything in a
// stream, its shards and their records. Records are never modified once appended, so a reader may keep
// a slice of them after releasing the lock (appends only write past its length, trims reslice).

const (
	statusActive   = "ACTIVE"
	modeProvision  = "PROVISIONED"
	modeOnDemand   = "ON_DEMAND"
	encryptionNone = "NONE"
	encryptionKMS  = "KMS"

	defaultMaxRecordKiB = 1024
	onDemandShards      = 4
)

type record struct {
	seq       uint64 // stream-wide counter value; the sequence number string is derived from it
	arrivalMs int64  // ApproximateArrivalTimestamp, Unix milliseconds
	pk        string
	data      []byte
}

func (r *record) size() int { return len(r.pk) + len(r.data) }

// Record distribution strategies (RecordDistributionStrategy in CreateStream, DescribeStreamSummary
// and UpdateStreamRecordDistributionStrategy).
const (
	// RecordDistributionUserPartitionKey routes each record by the MD5 of its partition key, or by its
	// explicit hash key: the default, and the only strategy of a PROVISIONED stream.
	RecordDistributionUserPartitionKey = "USER_PARTITION_KEY"
	// RecordDistributionAuto is service-managed distribution, for ON_DEMAND streams only: partition
	// keys and explicit hash keys are ignored for placement and may be omitted, and the server spreads
	// records evenly over the open shards (round-robin here).
	RecordDistributionAuto = "AUTO"
)

type stream struct {
	id      uint64 // unique per incarnation: iterators of a deleted stream do not resolve to a new one
	name    string
	arn     string
	created time.Time

	mu           sync.RWMutex
	mode         string
	retention    time.Duration
	encryption   string
	keyID        string
	maxRecordKiB int
	counter      uint64 // last sequence counter handed out
	shards       []*shard
	open         []*shard // open shards sorted by starting hash key
	consumers    map[string]*consumer
	tags         map[string]string
	metrics      []string // enhanced monitoring: enabled shard-level metrics
	distribution string   // record distribution strategy: RecordDistributionUserPartitionKey or RecordDistributionAuto
	nextAuto     uint64   // AUTO distribution: round-robin position over the open shards
}

type shard struct {
	index    int
	id       string
	parent   string
	adjacent string
	rng      aggregation.HashRange
	startSeq uint64 // counter taken when the shard was made; every record of the shard is after it
	endSeq   uint64 // counter taken when the shard was closed; 0 while open
	created  time.Time
	closedAt time.Time
	children []*shard

	seqSuffix [seqLen - 22]byte // the last 34 digits of every sequence number of the shard
	records   []record          // sorted by seq; the retention trim drops a prefix
	notify    chan struct{}     // closed and replaced whenever records are appended or the shard closes
	lim       shardLimits
}

func (sh *shard) isOpen() bool { return sh.endSeq == 0 }

func shardID(index int) string { return fmt.Sprintf("shardId-%012d", index) }

// parseShardIndex accepts "shardId-000000000007" as AWS prints it.
func parseShardIndex(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, "shardId-")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Sequence numbers are 56 decimal digits, like AWS's: "49", the 20-digit stream-wide counter, the
// 10-digit shard index and the 24-digit stream creation time in milliseconds. The counter comes first
// so numbers order like arrival across the whole stream, and strictly increase in each shard.
const seqLen = 56

func appendSeq(dst []byte, counter uint64, shardIndex int, createdMs int64) []byte {
	dst = append(dst, '4', '9')
	dst = appendPadded(dst, counter, 20)
	dst = appendPadded(dst, uint64(shardIndex), 10)
	return appendPadded(dst, uint64(createdMs), 24)
}

// appendSeqSuffix appends a sequence number using the shard's precomputed tail (shard index and
// stream creation time), which is the same for every record of the shard.
func appendSeqSuffix(dst []byte, counter uint64, suffix *[seqLen - 22]byte) []byte {
	dst = append(dst, '4', '9')
	dst = appendPadded(dst, counter, 20)
	return append(dst, suffix[:]...)
}

func appendPadded(dst []byte, v uint64, width int) []byte {
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], v, 10)
	for i := len(digits); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

func (st *stream) seqString(counter uint64, sh *shard) string {
	var buf [seqLen]byte
	return string(appendSeq(buf[:0], counter, sh.index, st.created.UnixMilli()))
}

// parseSeq returns the counter of a sequence number, checking it belongs to shard sh of st.
func (st *stream) parseSeq(s string, sh *shard) (uint64, *Error) {
	if len(s) != seqLen || !strings.HasPrefix(s, "49") {
		return 0, errInvalid("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account is invalid.", s, sh.id, st.name)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errInvalid("StartingSequenceNumber %s is not a number.", s)
		}
	}
	counter, _ := strconv.ParseUint(s[2:22], 10, 64)
	idx, _ := strconv.Atoi(s[22:32])
	if idx != sh.index {
		return 0, errInvalid("Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", shardID(idx), sh.id)
	}
	return counter, nil
}

// newShard makes a shard, taking a counter value as its start. Caller holds st.mu.
func (st *stream) newShard(rng aggregation.HashRange, parent, adjacent string, now time.Time) *shard {
	st.counter++
	sh := &shard{
		index:    len(st.shards),
		rng:      rng,
		parent:   parent,
		adjacent: adjacent,
		startSeq: st.counter,
		created:  now,
		notify:   make(chan struct{}),
	}
	sh.id = shardID(sh.index)
	tail := appendSeq(nil, 0, sh.index, st.created.UnixMilli())[22:]
	copy(sh.seqSuffix[:], tail)
	st.shards = append(st.shards, sh)
	return sh
}

// closeShard ends a shard: no more writes, and readers reaching its end see its children. Caller
// holds st.mu and rebuilds st.open afterwards.
func (st *stream) closeShard(sh *shard, now time.Time) {
	st.counter++
	sh.endSeq = st.counter
	sh.closedAt = now
	sh.wake()
}

// wake tells waiting subscriptions that the shard changed. Caller holds st.mu for writing.
func (sh *shard) wake() {
	close(sh.notify)
	sh.notify = make(chan struct{})
}

func (st *stream) rebuildOpen() {
	st.open = st.open[:0]
	for _, sh := range st.shards {
		if sh.isOpen() {
			st.open = append(st.open, sh)
		}
	}
	sort.Slice(st.open, func(i, j int) bool { return st.open[i].rng.Start.Compare(st.open[j].rng.Start) < 0 })
}

// place returns the shard a record goes to: under AUTO distribution the next open shard in
// round-robin order, else the open shard owning hash key k. Caller holds st.mu for writing.
func (st *stream) place(k aggregation.HashKey) *shard {
	if st.distribution == RecordDistributionAuto && len(st.open) > 0 {
		sh := st.open[st.nextAuto%uint64(len(st.open))]
		st.nextAuto++
		return sh
	}
	return st.route(k)
}

// route returns the open shard owning hash key k. Caller holds st.mu.
func (st *stream) route(k aggregation.HashKey) *shard {
	i := sort.Search(len(st.open), func(i int) bool { return st.open[i].rng.Start.Compare(k) > 0 }) - 1
	if i < 0 || !st.open[i].rng.Contains(k) {
		return nil
	}
	return st.open[i]
}

func (st *stream) shardByID(id string) *shard {
	idx, ok := parseShardIndex(id)
	if !ok || idx >= len(st.shards) {
		return nil
	}
	return st.shards[idx]
}

// horizon is the oldest instant whose data is still retained.
func (st *stream) horizon(now time.Time) time.Time {
	h := now.Add(-st.retention)
	if h.Before(st.created) {
		return st.created
	}
	return h
}

// visible reports whether a shard is still listed: open, or closed within the retention period.
func (st *stream) visible(sh *shard, now time.Time) bool {
	return sh.isOpen() || !sh.closedAt.Before(st.horizon(now))
}

// trim drops records older than the retention period from the front of sh. Caller holds st.mu for
// writing.
func (st *stream) trim(sh *shard, now time.Time) {
	if len(sh.records) == 0 {
		return
	}
	cutoff := now.Add(-st.retention).UnixMilli()
	if sh.records[0].arrivalMs >= cutoff {
		return
	}
	i := sort.Search(len(sh.records), func(i int) bool { return sh.records[i].arrivalMs >= cutoff })
	if i == len(sh.records) {
		sh.records = nil // let the backing array go
		return
	}
	sh.records = sh.records[i:]
}

// trimAll trims every shard, closed ones included (writes trim only the shards they touch). Caller
// holds st.mu for writing.
func (st *stream) trimAll(now time.Time) {
	for _, sh := range st.shards {
		st.trim(sh, now)
	}
}

// retained returns the records of sh still within retention, from counter pos on. Caller holds st.mu
// (read is enough); the slice stays valid after the lock is released.
func (st *stream) retained(sh *shard, pos uint64, now time.Time) []record {
	recs := sh.records
	cutoff := now.Add(-st.retention).UnixMilli()
	i := sort.Search(len(recs), func(i int) bool { return recs[i].seq >= pos })
	recs = recs[i:]
	if len(recs) > 0 && recs[0].arrivalMs < cutoff {
		j := sort.Search(len(recs), func(i int) bool { return recs[i].arrivalMs >= cutoff })
		recs = recs[j:]
	}
	return recs
}

func (st *stream) openShardCount() int { return len(st.open) }

// uniformRanges splits the whole hash key space into n ranges as evenly as Kinesis does.
func uniformRanges(n int) []aggregation.HashRange { return aggregation.FullHashRange.Split(n) }
