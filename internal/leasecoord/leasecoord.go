// Package leasecoord hands package kcl the lease Coordinator of package lease without exporting it:
// the coordinator (renewals, take rounds, steals, hand-offs, the writes to held leases) is the KCL's
// scheduler machinery, which only kcl calls, so it is no part of lease's public API. Package lease
// registers its constructor here at init; kcl (and the repository's own tests) call New and assert the
// result to the interface of the methods they use. The fleet timing settings travel in Config: they
// are options of the kcl worker.
package leasecoord

import (
	"errors"
	"time"
)

// Config holds the coordinator's timing and balancing settings. A zero field keeps the default,
// derived from the Manager's failover time where it depends on it.
type Config struct {
	RenewInterval time.Duration // default failover/3
	TakeInterval  time.Duration // default 2 × failover
	RenewTimeout  time.Duration // default failover/4
	// MaxLeasesToStealAtOnce: default 2; MaxStealSet makes an explicit 0 count.
	MaxLeasesToStealAtOnce int
	MaxStealSet            bool
	MaxLeasesForWorker     int // default 0: unlimited
}

var newCoordinator func(manager any, cfg Config) (any, error)

// Register is called by package lease's init.
func Register(f func(manager any, cfg Config) (any, error)) { newCoordinator = f }

// New returns a coordinator for manager (a *lease.Manager), configured by its options and cfg.
func New(manager any, cfg Config) (any, error) {
	if newCoordinator == nil {
		return nil, errors.New("leasecoord: package lease not linked")
	}
	return newCoordinator(manager, cfg)
}
