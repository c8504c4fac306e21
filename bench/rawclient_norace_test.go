//go:build !race

package bench

const loadgenRaceEnabled = false
