// Package configs holds the configuration files shipped inside the binary:
// the quickstart that `sluice run` serves with no -config flag, and the
// reference that documents every key.
package configs

import _ "embed"

// Quickstart is configs/quickstart.toml.
//
//go:embed quickstart.toml
var Quickstart []byte

// Reference is configs/reference.toml.
//
//go:embed reference.toml
var Reference []byte
