//go:build !unix

package main

import "time"

// processCPU is not measured on this platform: bench reports 0 CPU-seconds.
func processCPU() time.Duration { return 0 }
