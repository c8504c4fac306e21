// Package params implements step 5 of the request pipeline: per-API
// parameter validation (path, query, header, urlencoded form field and
// top-level JSON body field) and the per-API body size limit.
//
// A Config is compiled once per snapshot into an immutable *Validator:
// names, path indexes, regexes, enum sets and every error message are
// resolved then, so Validate allocates nothing, on success or on failure.
package params

import "github.com/sluicegw/sluice/policy/units"

// Config is the parameter part of an [[apis]] table.
type Config struct {
	// MaxBodySize is the largest request body the API accepts, as a size
	// ("64KiB", "10MiB", or a plain byte count). Larger bodies, by
	// Content-Length or by actual length, are refused with 413 before any
	// parameter is looked at. (default "0" = only the server-wide limit)
	MaxBodySize ByteSize `toml:"max_body_size"`

	// Params are the parameters to validate, checked in the order path,
	// query, header, form, json and, within a location, as listed; the first
	// failure is reported. (default [])
	Params []Param `toml:"params"`
}

// Param is one [[apis.params]] entry.
type Param struct {
	// Name is the path template parameter, query key, header name (matched
	// case-insensitively), form field or top-level JSON member. Required.
	Name string `toml:"name"`

	// In is the location: "path", "query", "header", "form"
	// (application/x-www-form-urlencoded body) or "json" (top-level member
	// of a JSON object body). Required.
	In string `toml:"in"`

	// Type is "string", "int" (64-bit, no fraction or exponent), "number"
	// (float64), "bool" (true/false, plus 1/0 outside JSON) or "enum" (one
	// of Values). In JSON the value must have the matching JSON type.
	// (default "string")
	Type string `toml:"type"`

	// Required makes an absent parameter an error. An empty query or form
	// value ("?q=") is present; an empty header is absent; a JSON null is
	// absent. Path parameters are always present. (default false)
	Required bool `toml:"required"`

	// Default is the value, written as a string, used when the parameter is
	// absent; it is set on the request so the backend sees it. Only for
	// "query" and "header"; it must itself pass every rule. (default none)
	Default string `toml:"default"`

	// Min and Max bound an int or number inclusively. (default unbounded)
	Min *float64 `toml:"min"`
	Max *float64 `toml:"max"`

	// MinLength and MaxLength bound a string's length in characters
	// (Unicode code points). (default 0 = unbounded)
	MinLength int `toml:"min_length"`
	MaxLength int `toml:"max_length"`

	// Regex is an RE2 pattern the whole string value must match; it is
	// anchored for you ("[a-z]+" means "^(?:[a-z]+)$"). (default none)
	Regex string `toml:"regex"`

	// Values are the allowed values of an enum, compared exactly.
	// Required for type "enum", refused otherwise. (default [])
	Values []string `toml:"values"`
}

// ByteSize is the config's one size type (policy/units.Size): "512",
// "64KiB", "10MiB", "10 MiB", "1GiB", "100KB", "2MB" (decimal units are
// powers of 1000), read exactly like every other size key in the file.
type ByteSize = units.Size
