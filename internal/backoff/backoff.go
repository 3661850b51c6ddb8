// Package backoff computes jittered exponential retry delays without overflow.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy describes exponential backoff: attempt n (0-based) waits a random duration in
// [d/2, d] where d = min(Base * 2^n, Max) ("equal jitter": never zero, never synchronised).
// The zero Policy is usable: it means Base 100ms and Max 10s.
type Policy struct {
	Base time.Duration // first delay bound; <= 0 means 100ms
	Max  time.Duration // largest delay; <= 0 means 10s; values below Base are raised to Base
}

// Ceiling returns the upper bound of the delay for attempt n, min(Base*2^n, Max). It never
// overflows, for any n.
func (p Policy) Ceiling(n int) time.Duration {
	base, maxD := p.Base, p.Max
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 10 * time.Second
	}
	if maxD < base {
		maxD = base
	}
	if n < 0 {
		n = 0
	}
	d := base
	for i := 0; i < n; i++ {
		if d > maxD/2 { // doubling would pass Max (or overflow)
			return maxD
		}
		d *= 2
	}
	return min(d, maxD)
}

// Delay returns a jittered delay for attempt n, uniformly in [Ceiling(n)/2, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	c := p.Ceiling(n)
	half := c / 2
	return half + rand.N(c-half+1)
}

// AddSaturating returns t+d, or a time far in the future when the sum would overflow the
// representable range of time.Duration arithmetic (used for "retry forever" TTLs).
func AddSaturating(t time.Time, d time.Duration) time.Time {
	const farFuture = 100 * 365 * 24 * time.Hour
	if d > farFuture {
		d = farFuture
	}
	return t.Add(d)
}
