package ipacl

import "net/netip"

// ACL is a compiled Config. It is immutable and safe for concurrent use.
type ACL struct {
	allow, deny *Set
}

// Compile validates cfg and builds its ACL. Errors name the list, the index
// and the offending value.
func Compile(cfg Config) (*ACL, error) {
	allow, err := NewSet("allow", cfg.Allow)
	if err != nil {
		return nil, err
	}
	deny, err := NewSet("deny", cfg.Deny)
	if err != nil {
		return nil, err
	}
	return &ACL{allow: allow, deny: deny}, nil
}

// Allowed reports whether ip may pass step 1: not in Deny, and in Allow or
// Allow is empty. The invalid zero Addr (no usable peer address) is refused:
// an ACL fails closed. Zero allocations.
func (a *ACL) Allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	if a.deny.Contains(ip) {
		return false
	}
	return a.allow.Len() == 0 || a.allow.Contains(ip)
}
