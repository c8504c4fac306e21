package radix

import (
	"bytes"
	"sort"
)

// Results of node.match besides a route index (>= 0).
const (
	noMatch    int32 = -1 // nothing here: the caller backtracks
	abortMatch int32 = -2 // a trailing-slash marker was hit: the whole method lookup fails
)

// smallFanout is the most static children kept in a slice (linear scan) rather than a map after Freeze:
// comparing a few short strings is cheaper than hashing the segment.
const smallFanout = 8

// node is a position in one method's trie, after some number of whole path segments.
// Mutated only by Tree.Add and Tree.Freeze; read-only (and safe for concurrent use) afterwards.
type node struct {
	kids      map[string]*node // static children by segment text (after Freeze: only when large)
	keys      []string         // after Freeze, small fan-out: static child segments ...
	small     []*node          // ... and the children, same order
	params    []*paramEdge     // after Freeze: regex parameters first, then plain, each in Add order
	leaf      int32            // route ending exactly here, or noMatch
	catchAll  int32            // route whose `{name:*}` starts after this node, or noMatch
	catchName string
	// Trailing-slash markers, mirroring fasthttp/router's TSR nodes: with redirects off, a request that
	// differs from a route only by a trailing slash ends the lookup for the method as "not found"
	// instead of falling back to a parameter or catch-all elsewhere in the tree.
	slashTSR bool // a route ends here: the request path ending in "/" right after this node aborts
	endTSR   bool // a route continues with "/" (or "/{x:*}") after this node: ending here aborts
}

// paramEdge is a `{name}` or `{name:regex}` edge. Edges are keyed by their raw text, as in
// fasthttp/router: `{id}` and `{name}` at the same position are distinct siblings tried in order.
type paramEdge struct {
	raw   string
	name  string
	m     *segMatcher // nil for a plain parameter
	child *node
	seq   int
}

func newNode() *node { return &node{leaf: noMatch, catchAll: noMatch} }

func (n *node) staticChild(seg []byte) *node {
	if n.kids != nil {
		return n.kids[string(seg)] // no allocation: the compiler recognises map[string(b)]
	}
	for i, k := range n.keys {
		if k == string(seg) {
			return n.small[i]
		}
	}
	return nil
}

func (n *node) paramEdge(raw string) *paramEdge {
	for _, e := range n.params {
		if e.raw == raw {
			return e
		}
	}
	return nil
}

// match resolves path[pos:], which is empty or starts with '/', against the subtree at n. Priority at
// each node: static segment, then regex parameters, then plain parameters, then the catch-all, with
// backtracking; captured parameters are pushed on ps and popped again when a branch fails.
// Parameters are only tried when something follows the '/', so `/a/{id}` does not match `/a/`
// but `/a/{id}/b` matches `/a//b` with an empty id, exactly as fasthttp/router.
func (n *node) match(path []byte, pos int, ps *Params) int32 {
	if pos == len(path) {
		if n.leaf >= 0 {
			return n.leaf
		}
		if n.endTSR {
			return abortMatch
		}
		return noMatch
	}
	start := pos + 1
	end := len(path)
	if i := bytes.IndexByte(path[start:], '/'); i >= 0 {
		end = start + i
	}
	seg := path[start:end]
	if c := n.staticChild(seg); c != nil {
		if r := c.match(path, end, ps); r != noMatch {
			return r
		}
	}
	if start == len(path) {
		if n.slashTSR {
			return abortMatch
		}
	} else {
		for _, e := range n.params {
			if e.m != nil && !e.m.match(seg) {
				continue
			}
			mark := ps.n
			ps.push(e.name, start, end)
			if r := e.child.match(path, end, ps); r != noMatch {
				return r
			}
			ps.n = mark
		}
	}
	if n.catchAll >= 0 {
		ps.push(n.catchName, start, len(path))
		return n.catchAll
	}
	return noMatch
}

// freeze converts the build-time layout into the lookup layout, recursively.
func (n *node) freeze() {
	for _, c := range n.kids {
		c.freeze()
	}
	if len(n.kids) <= smallFanout {
		for k := range n.kids {
			n.keys = append(n.keys, k)
		}
		sort.Strings(n.keys)
		for _, k := range n.keys {
			n.small = append(n.small, n.kids[k])
		}
		n.kids = nil
	}
	sort.SliceStable(n.params, func(i, j int) bool {
		ri, rj := n.params[i].m != nil, n.params[j].m != nil
		if ri != rj {
			return ri
		}
		return n.params[i].seq < n.params[j].seq
	})
	for _, e := range n.params {
		e.child.freeze()
	}
}
