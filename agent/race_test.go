//go:build race

package agent

// raceEnabled: the race detector makes allocations of its own (allocation counts are not checked).
const raceEnabled = true
