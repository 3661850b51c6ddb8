package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFingerprintMatchesAllocatesNothing: the first bytes of a tailed file are checked again at
// each of its changes (a line written every 100 ms: ten times a second), without allocating.
func TestFingerprintMatchesAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	path := filepath.Join(t.TempDir(), "a.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("a line of the log\n", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fp, err := readFingerprint(fh, 720)
	if err != nil || fp.N != fingerprintMax {
		t.Fatalf("readFingerprint = %+v, %v", fp, err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if ok, err := fp.matches(fh, 720); !ok || err != nil {
			t.Fatalf("matches = %v, %v", ok, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("fingerprint.matches allocates %v times per call, want 0", allocs)
	}
	other := fingerprint{N: fp.N, Sum: strings.Repeat("0", 64)}
	if ok, err := other.matches(fh, 720); ok || err != nil {
		t.Fatalf("another fingerprint matches = %v, %v", ok, err)
	}
}
