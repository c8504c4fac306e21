package accesslog

import "github.com/sluicegw/sluice/policy/units"

// Duration ("1s", "250ms") and Size ("1MiB", "10 MiB", "4096") are the
// config's shared unit types: one grammar for the whole file.
type (
	Duration = units.Duration
	Size     = units.Size
)

// maxSize is the largest size any key accepts.
const maxSize = units.MaxSize

// ParseSize parses a Size in the config's one size grammar.
func ParseSize(s string) (Size, error) { return units.ParseSize(s) }
