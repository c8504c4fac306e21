//go:build !race

package ipacl

const raceEnabled = false
