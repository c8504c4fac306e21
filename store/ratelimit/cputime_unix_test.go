//go:build unix

package ratelimit

import (
	"syscall"
	"testing"
)

// processCPU returns user+system CPU time of the process in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU adds a cpu-ns/op metric: on a shared, oversubscribed machine
// wall-clock ns/op mostly measures waiting for a core, CPU time does not.
// For parallel benchmarks it is CPU summed over all goroutines per op.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}
