package kinesistest

import (
	"sync"
	"time"
)

// Kinesis limits, enforced under EnforceLimits (except the per-call GetRecords caps, which Kinesis
// applies by shortening the answer and so do we always).
const (
	shardWriteBytesPerSec   = 1 << 20
	shardWriteRecordsPerSec = 1000
	shardGetCallsPerSec     = 5
	shardGetBytesPerSec     = 2 << 20
	subscribeBytesPerSec    = 2 << 20
	maxPutRecordsEntries    = 500
	maxGetRecordsCount      = 10000
	maxGetRecordsBytes      = 10 << 20
	maxDataBytes            = 10 << 20 // the API model's bound on a record's data
	minRecordKiB            = 1024
	maxRecordKiB            = 10240
	maxConsumersPerStream   = 20
	minRetentionHours       = 24
	maxRetentionHours       = 8760
	defaultRetentionHours   = 24
	subscribeRetryWindow    = 5 * time.Second
	describeSummaryPerSec   = 20 // DescribeStreamSummary, per account (per server)
)

// accountLimits are the per-account rate limits of control-plane calls.
type accountLimits struct {
	mu              sync.Mutex
	describeSummary bucket
}

// admitDescribeSummary reports whether a DescribeStreamSummary call may run now, and takes a token if so.
func (l *accountLimits) admitDescribeSummary(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.describeSummary.refill(describeSummaryPerSec, now)
	if l.describeSummary.tokens < 1 {
		return false
	}
	l.describeSummary.tokens--
	return true
}

// bucket is a token bucket read against the server clock: it holds up to one second of its rate and
// refills continuously. Taking more than it holds may drive it negative (GetRecords bytes), which
// throttles later calls until it refills, as Kinesis does after a large read.
type bucket struct {
	tokens float64
	last   time.Time
	inited bool
}

func (b *bucket) refill(rate float64, now time.Time) {
	if !b.inited {
		b.tokens, b.last, b.inited = rate, now, true
		return
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += dt.Seconds() * rate
		if b.tokens > rate {
			b.tokens = rate
		}
		b.last = now
	}
}

// shardLimits are the per-shard buckets. They are guarded by the stream's lock.
type shardLimits struct {
	getMu                    sync.Mutex // GetRecords runs under the stream read lock; writes hold the write lock
	writeBytes, writeRecords bucket
	getCalls, getBytes       bucket
}

// admitWrite reports whether a record of n bytes may be written now, and takes it if so.
func (l *shardLimits) admitWrite(n int, now time.Time) bool {
	l.writeBytes.refill(shardWriteBytesPerSec, now)
	l.writeRecords.refill(shardWriteRecordsPerSec, now)
	// A record larger than a second's budget (up to 10 MiB) passes on a full bucket and drives it
	// negative, so the shard then rests until it has paid for it.
	if l.writeRecords.tokens < 1 || l.writeBytes.tokens < min(float64(n), shardWriteBytesPerSec) {
		return false
	}
	l.writeRecords.tokens--
	l.writeBytes.tokens -= float64(n)
	return true
}

// admitGet reports whether a GetRecords call may run now, and takes a call token if so.
func (l *shardLimits) admitGet(now time.Time) bool {
	l.getCalls.refill(shardGetCallsPerSec, now)
	l.getBytes.refill(shardGetBytesPerSec, now)
	if l.getCalls.tokens < 1 || l.getBytes.tokens <= 0 {
		return false
	}
	l.getCalls.tokens--
	return true
}

// chargeGet takes the bytes a GetRecords call returned; the bucket may go negative.
func (l *shardLimits) chargeGet(n int) {
	l.getBytes.tokens -= float64(n)
}
