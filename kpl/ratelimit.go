package kpl

import "time"

// tokenBucket limits one shard's sends to RateLimit percent of the shard's write limits (1 MiB/s
// and 1000 Kinesis records/s). Buckets hold one second's worth at the current rate. Throttling
// multiplies the rate by throttleFactor (down to minFactor); calls without throttling grow it back by
// recoverPerSec per second (AIMD), so a shard converges on what Kinesis really accepts and is
// throttled only now and then as it probes upward.
type tokenBucket struct {
	off                     bool    // RateLimit(0)
	bytesPerSec, recsPerSec float64 // at factor 1
	factor                  float64 // adaptive multiplier in [minFactor, 1]
	bytes, recs             float64 // available tokens (bytes may go negative for oversized records)
	last                    time.Time
	lastGrow                time.Time // when factor last grew (or was cut)
}

const (
	throttleFactor = 0.85
	minFactor      = 0.05
	recoverPerSec  = 0.05
)

func (b *tokenBucket) init(percent int, now time.Time) {
	b.off = percent == 0
	b.bytesPerSec = float64(shardBytesPerSec) * float64(percent) / 100
	b.recsPerSec = float64(shardRecsPerSec) * float64(percent) / 100
	b.factor = 1
	b.bytes, b.recs = b.bytesPerSec, b.recsPerSec
	b.last, b.lastGrow = now, now
}

func (b *tokenBucket) refill(now time.Time) {
	dt := now.Sub(b.last).Seconds()
	if dt <= 0 {
		return
	}
	b.last = now
	b.bytes = min(b.bytes+dt*b.bytesPerSec*b.factor, b.bytesPerSec*b.factor)
	b.recs = min(b.recs+dt*b.recsPerSec*b.factor, max(b.recsPerSec*b.factor, 1))
}

// allow reports whether a Kinesis record of size bytes may be sent now. A record larger than the
// bucket is allowed once the bucket is full (the debt delays what follows).
func (b *tokenBucket) allow(now time.Time, size int) bool {
	if b.off {
		return true
	}
	b.refill(now)
	return b.recs >= 1 && b.bytes >= min(float64(size), b.bytesPerSec*b.factor)
}

func (b *tokenBucket) take(size int) {
	if b.off {
		return
	}
	b.bytes -= float64(size)
	b.recs--
}

// wait returns how long until allow(size) can hold.
func (b *tokenBucket) wait(size int) time.Duration {
	need := 0.0
	if d := min(float64(size), b.bytesPerSec*b.factor) - b.bytes; d > 0 {
		need = d / (b.bytesPerSec * b.factor)
	}
	if d := 1 - b.recs; d > 0 {
		need = max(need, d/(b.recsPerSec*b.factor))
	}
	return time.Duration(need*float64(time.Second)) + time.Millisecond
}

// throttled slows the shard after Kinesis throttled it and drops the burst allowance.
func (b *tokenBucket) throttled(now time.Time) {
	if b.off {
		return
	}
	b.factor = max(minFactor, b.factor*throttleFactor)
	b.bytes = min(b.bytes, 0)
	b.recs = min(b.recs, 0)
	b.lastGrow = now
}

// succeeded lets the rate recover, in proportion to the time since it last changed, after a call
// without throttling for this shard.
func (b *tokenBucket) succeeded(now time.Time) {
	dt := now.Sub(b.lastGrow).Seconds()
	if dt <= 0 || b.factor >= 1 {
		b.lastGrow = now
		return
	}
	b.factor = min(1, b.factor+recoverPerSec*dt)
	b.lastGrow = now
}
