package jwtauth

// maxKidlessTries bounds how many keys a token without a usable kid is
// tried against, so such tokens cannot cost a signature check per key.
const maxKidlessTries = 4

// keyTable is an immutable set of keys indexed by kid. Safe for concurrent use.
type keyTable struct {
	byKid map[string][]*Key
	noKid []*Key
	all   []*Key
}

func newKeyTable(keys []*Key) *keyTable {
	t := &keyTable{byKid: make(map[string][]*Key), all: keys}
	for _, k := range keys {
		if k.hasKid {
			t.byKid[k.kid] = append(t.byKid[k.kid], k)
		} else {
			t.noKid = append(t.noKid, k)
		}
	}
	return t
}

// lookup outcome
type lookupResult uint8

const (
	lookFound       lookupResult = iota // cands holds keys pinned to the token's alg
	lookAlgMismatch                     // the kid is known but pinned to another alg
	lookUnknown                         // no key for this kid (or, without kid, for this alg)
)

// lookup appends to cands the keys that may verify a token with this kid and
// alg: keys with the exact kid; failing that, keys without a kid. A token
// without kid is tried against keys pinned to its alg.
func (t *keyTable) lookup(cands []*Key, kid []byte, hasKid bool, alg algID) ([]*Key, lookupResult) {
	if t == nil {
		return cands, lookUnknown
	}
	res := lookUnknown
	if hasKid {
		if ks, ok := t.byKid[string(kid)]; ok {
			for _, k := range ks {
				if k.alg == alg {
					return append(cands, k), lookFound
				}
			}
			res = lookAlgMismatch
		}
	}
	pool := t.noKid
	if !hasKid {
		pool = t.all
	}
	n := 0
	for _, k := range pool {
		if k.alg == alg && n < maxKidlessTries {
			cands = append(cands, k)
			n++
		}
	}
	if n > 0 {
		return cands, lookFound
	}
	if res == lookUnknown && len(pool) > 0 && !hasKid {
		res = lookAlgMismatch
	}
	return cands, res
}

// has reports whether k is still part of the table (pointer identity).
func (t *keyTable) has(k *Key) bool {
	if t == nil {
		return false
	}
	if k.hasKid {
		for _, x := range t.byKid[k.kid] {
			if x == k {
				return true
			}
		}
		return false
	}
	for _, x := range t.noKid {
		if x == k {
			return true
		}
	}
	return false
}

// reuse returns keys where each key equal (same fingerprint) to one in old
// is replaced by the old pointer, keeping cached verifications valid.
func (t *keyTable) reuse(keys []*Key) []*Key {
	if t == nil {
		return keys
	}
	for i, k := range keys {
		for _, o := range t.all {
			if o.fp == k.fp {
				keys[i] = o
				break
			}
		}
	}
	return keys
}
