package localstack_test

import (
	"context"
	"testing"

	"github.com/shardwise/shardwise/internal/leasecoord"
	"github.com/shardwise/shardwise/lease"
)

// coordinator is what these suites use of the lease coordinator a kcl worker runs (internal to the
// module: kcl reaches it through internal/leasecoord, and so do these tests).
type coordinator interface {
	Run(ctx context.Context) error
	Held() []lease.Lease
	ReleaseAll(ctx context.Context) error
}

func newCoordinator(t *testing.T, m *lease.Manager, cfg leasecoord.Config) coordinator {
	t.Helper()
	c, err := leasecoord.New(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.(coordinator)
}
