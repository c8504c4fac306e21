package policy

import "github.com/sluicegw/sluice/policy/units"

// Duration and Size are the config's unit types, shared with the policy
// sub-packages through policy/units.
type (
	Duration = units.Duration
	Size     = units.Size
)

// ParseSize parses "10MiB" and friends.
func ParseSize(s string) (Size, error) { return units.ParseSize(s) }
