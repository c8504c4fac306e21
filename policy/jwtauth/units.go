package jwtauth

import "github.com/sluicegw/sluice/policy/units"

// Duration ("30s") and Size ("1MiB") are the config's shared unit types.
type (
	Duration = units.Duration
	Size     = units.Size
)
