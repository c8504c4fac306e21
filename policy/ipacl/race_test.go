//go:build race

package ipacl

// raceEnabled shrinks the linear-oracle differential test, which is ~20x
// slower under the race detector.
const raceEnabled = true
