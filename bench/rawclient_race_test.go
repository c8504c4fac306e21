//go:build race

package bench

// loadgenRaceEnabled makes wall-clock rate tests skip themselves: the race
// detector slows the generator several times over, so a rate it holds
// without it is out of reach and a miss would say nothing.
const loadgenRaceEnabled = true
