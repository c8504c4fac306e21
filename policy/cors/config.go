// Package cors implements the CORS steps of the request pipeline: answering
// preflight requests at the gateway (request step 2) and decorating actual
// responses (the last response step).
//
// A Config is compiled once per snapshot into an immutable *Policy whose
// header values are all precomputed; the per-request methods allocate
// nothing.
package cors

import (
	"github.com/sluicegw/sluice/policy/units"
)

// Config is the [apis.cors] / [groups.cors] table.
type Config struct {
	// AllowOrigins lists the origins that may call the API: exact origins
	// ("https://app.example.com", "http://localhost:3000"), "*" for any
	// origin, or a wildcard subdomain ("https://*.example.com", matching
	// one or more labels in front of example.com, same scheme and port).
	// Matching is case-insensitive. "null" is refused. Required.
	// (default [] — a policy without origins is a config error)
	AllowOrigins []string `toml:"allow_origins"`

	// AllowMethods lists the methods a preflight may ask for, compared
	// case-insensitively; "*" allows any. With allow_credentials a "*" is
	// answered by echoing the requested method, since browsers read "*"
	// literally on credentialed requests. (default ["GET", "HEAD", "POST"])
	AllowMethods []string `toml:"allow_methods"`

	// AllowHeaders lists the request headers a preflight may ask for,
	// compared case-insensitively; "*" allows any (echoed back when
	// allow_credentials is on, as for methods). (default [])
	AllowHeaders []string `toml:"allow_headers"`

	// ExposeHeaders lists response headers scripts may read beyond the
	// CORS-safelisted ones, sent as Access-Control-Expose-Headers. "*" is
	// refused together with allow_credentials (browsers would read it as a
	// header literally named "*"). (default [])
	ExposeHeaders []string `toml:"expose_headers"`

	// AllowCredentials sends Access-Control-Allow-Credentials: true so that
	// browsers expose responses to credentialed requests (cookies, HTTP
	// auth). The origin is then always echoed, never "*". (default false)
	AllowCredentials bool `toml:"allow_credentials"`

	// MaxAge is how long browsers may cache a preflight answer, sent in
	// whole seconds as Access-Control-Max-Age; "0s" omits the header and
	// browsers fall back to 5 s. Browsers cap it (Chromium 2h, Firefox 24h).
	// (default "0s")
	MaxAge Duration `toml:"max_age"`
}

// Duration ("10m") is the config's shared duration type.
type Duration = units.Duration
