package backoff

import (
	"math"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-1, 100 * time.Millisecond},
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{5, 3200 * time.Millisecond},
		{6, 5 * time.Second},
		{63, 5 * time.Second},
		{math.MaxInt32, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := p.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	huge := Policy{Base: time.Duration(math.MaxInt64 / 3), Max: time.Duration(math.MaxInt64)}
	for n := 0; n < 200; n++ {
		if d := huge.Ceiling(n); d <= 0 {
			t.Fatalf("Ceiling(%d) overflowed to %v", n, d)
		}
	}
}

func TestDelayJitterBounds(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for n := 0; n < 20; n++ {
		c := p.Ceiling(n)
		for i := 0; i < 200; i++ {
			d := p.Delay(n)
			if d < c/2 || d > c {
				t.Fatalf("Delay(%d) = %v, outside [%v, %v]", n, d, c/2, c)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays: jitter missing", len(seen))
	}
}

func TestZeroPolicy(t *testing.T) {
	var p Policy
	if got := p.Ceiling(0); got != 100*time.Millisecond {
		t.Fatalf("Ceiling(0) = %v", got)
	}
	if got := p.Ceiling(1000); got != 10*time.Second {
		t.Fatalf("Ceiling(1000) = %v", got)
	}
}

func TestAddSaturating(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := AddSaturating(now, time.Duration(math.MaxInt64)); !got.After(now.Add(50 * 365 * 24 * time.Hour)) {
		t.Fatalf("AddSaturating(max) = %v, not far in the future", got)
	}
	if got := AddSaturating(now, time.Second); !got.Equal(now.Add(time.Second)) {
		t.Fatalf("AddSaturating(1s) = %v", got)
	}
}
