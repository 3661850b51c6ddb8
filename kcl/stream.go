package kcl

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// streamRef is how every call names the stream: by StreamARN when the worker was given an ARN
// ("arn:aws:kinesis:region:account:stream/name", needed to read a stream of another account), else by
// StreamName.
type streamRef struct {
	name string // the name, also derived from an ARN (for logs)
	arn  string // "" when given a name
}

func parseStreamRef(s string) streamRef {
	if !strings.HasPrefix(s, "arn:") {
		return streamRef{name: s}
	}
	name := s
	if _, after, ok := strings.Cut(s, ":stream/"); ok {
		name, _, _ = strings.Cut(after, "/")
	}
	return streamRef{name: name, arn: s}
}

// nameField and arnField are the StreamName and StreamARN members of a request: exactly one is set.
func (r streamRef) nameField() *string {
	if r.arn != "" {
		return nil
	}
	return aws.String(r.name)
}

func (r streamRef) arnField() *string {
	if r.arn == "" {
		return nil
	}
	return aws.String(r.arn)
}

func (r streamRef) String() string {
	if r.arn != "" {
		return r.arn
	}
	return r.name
}

// callCtx bounds one Kinesis call by the CallTimeout.
func callCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// callReserve is what a GetRecords call in flight reserves of the worker's byte budget: while it is
// decoded an answer (at most 10 MiB of records) takes its body (the data in base64, 4/3 of it, in JSON) and the decoded data.
// Once answered, the call keeps only the data's size.
const callReserve = 24 << 20

// shardReadRate is the read throughput of one shard shared by every GetRecords caller: 2 MiB/s.
const shardReadRate = 2 << 20

// byteBudget bounds the bytes of fetched records a worker holds (WorkerPrefetchBytes). Pollers reserve
// the most an answer can hold before each call, keep what the answer held and release it once the
// processor is done with the batch. It is safe for concurrent use.
type byteBudget struct {
	mu    sync.Mutex
	limit int64
	used  int64         // guarded by mu
	freed chan struct{} // closed and replaced whenever bytes are released; guarded by mu
	peak  int64         // the most ever used; guarded by mu (tests)
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{})}
}

// acquire waits until n bytes fit and takes them; false when ctx ended first.
func (b *byteBudget) acquire(ctx context.Context, n int64) bool {
	for {
		b.mu.Lock()
		if b.used+n <= b.limit || b.used == 0 {
			b.used += n
			b.peak = max(b.peak, b.used)
			b.mu.Unlock()
			return true
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// take takes n bytes without waiting (n <= 0: nothing).
func (b *byteBudget) take(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used += n
	b.peak = max(b.peak, b.used)
	b.mu.Unlock()
}

// release gives n bytes back.
func (b *byteBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

func (b *byteBudget) peakUsed() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}
