package kcl

import (
	"errors"
	"testing"
	"time"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// The fleet timing options reach the lease coordinator and are validated against the Manager's
// failover time by NewWorker.
func TestFleetOptionsValidated(t *testing.T) {
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "app", "w", lease.Failover(9*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	nop := func(string) RecordProcessor { return nil }
	tests := []struct {
		name string
		opt  Option
		ok   bool
	}{
		{"renew interval below failover", RenewInterval(2 * time.Second), true},
		{"renew interval at failover", RenewInterval(9 * time.Second), false},
		{"renew timeout at failover", RenewTimeout(9 * time.Second), false},
		{"negative take interval", TakeInterval(-time.Second), false},
		{"negative steal", MaxLeasesToStealAtOnce(-1), false},
		{"no steal", MaxLeasesToStealAtOnce(0), true},
		{"negative max leases", MaxLeasesForWorker(-1), false},
		{"max leases", MaxLeasesForWorker(3), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWorker(kc, m, "s", nop, tt.opt)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("NewWorker(%s) = %v, want ok %t (else ErrInvalidConfig)", tt.name, err, tt.ok)
			}
		})
	}
}
