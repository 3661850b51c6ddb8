package kinesistest

import (
	"slices"
	"testing"
)

// TestDefaultFaultKindsUnchanged keeps FaultConfig{Rate} without Kinds meaning what the CLI's
// --fault-rate documents: entry failures, 500, 503, slow answers and resets, nothing added later.
func TestDefaultFaultKindsUnchanged(t *testing.T) {
	f := newFaultInjector(FaultConfig{Rate: 0.5, Seed: 1})
	want := []FaultKind{FaultInternalError, FaultUnavailable, FaultSlow, FaultReset}
	if !f.entry || !slices.Equal(f.callKinds, want) {
		t.Errorf("default kinds: entry=%v call kinds %v, want entry=true %v", f.entry, f.callKinds, want)
	}
}
