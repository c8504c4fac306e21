// Package ipacl implements step 1 of the request pipeline: IP allow/deny
// lists, and the derivation of the client IP from the socket peer and
// X-Forwarded-For when the peer is a trusted proxy.
//
// Everything here is pure: a Config is compiled once per snapshot into an
// immutable *ACL or *Set, and the per-request calls (Allowed, Contains,
// ClientIP, ParseAddr) allocate nothing.
package ipacl

// Config is the [apis.ip_acl] / [groups.ip_acl] table. The zero value allows
// every client.
type Config struct {
	// Allow lists CIDRs ("10.0.0.0/8", "2001:db8::/32") or bare addresses
	// (meaning /32 or /128) that may call the API. When empty, every client
	// not matched by Deny is allowed. IPv4-mapped IPv6 entries
	// ("::ffff:10.0.0.0/104") are treated as their IPv4 equivalent.
	// (default [] = allow all not denied)
	Allow []string `toml:"allow"`

	// Deny lists CIDRs or bare addresses that are refused with 403. Deny
	// wins over Allow when both match. (default [])
	Deny []string `toml:"deny"`
}
