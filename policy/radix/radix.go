// Package radix is the data plane's router: a small trie over whole path segments with
// fasthttp/router's template syntax (`/users/{id}`, `/n/{id:[0-9]+}`, `/static/{path:*}`) whose Lookup
// allocates nothing and reports parameters as offsets into the request path.
//
// Matching follows fasthttp/router v1.5.4 with RedirectTrailingSlash and RedirectFixedPath off, which the
// differential test in this package uses as its oracle: per method, a static segment beats a regex
// parameter, which beats a plain parameter, which beats a catch-all, with backtracking; `/a` and `/a/`
// are distinct; a request that is a route's trailing-slash twin fails for that method; "*" routes are
// tried when the request's own method has no match; 405 is reported with the methods that would match.
// Where fasthttp/router's answer depends on the shape of its compressed tree (see oracle_test.go) this
// package answers as if only the routes that can match the path were registered.
package radix

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// MaxMethods bounds the distinct methods of one tree so that Allow sets fit in a uint64.
const MaxMethods = 64

// allowTableMethods: with at most this many methods every Allow string is built at Freeze.
const allowTableMethods = 10

// Route is one registered route, as listed by Routes.
type Route[T any] struct {
	Method   string
	Template string
	Value    T
}

// Tree maps (method, path template) to a value. Build with Add, then call Freeze once; after Freeze it is
// read-only and safe for concurrent Lookup without locks. Add and Freeze are not safe for concurrent use.
type Tree[T any] struct {
	routes  []Route[T]
	shapes  map[string]int         // method + "\x00" + shapeKey -> route index
	regexes map[string]*segMatcher // build time: pattern -> compiled matcher
	roots   map[string]*node
	frozen  bool
	methods []string // sorted, without "*"; index = bit in Allow masks
	byIndex []*node  // roots in methods order
	any     *node    // "*" routes
	allow   []string // mask -> Allow value, when len(methods) <= allowTableMethods
	allowM  sync.Map // mask -> Allow value, for larger method sets; filled on first use
}

// New returns an empty tree.
func New[T any]() *Tree[T] {
	return &Tree[T]{shapes: make(map[string]int), roots: make(map[string]*node), regexes: make(map[string]*segMatcher)}
}

// Add registers value for method (upper-case token, e.g. "GET"; "*" = any method) and template.
// Templates: static segments, `{name}` (one segment), `{name:regex}` (one segment matching ^regex$),
// and a trailing catch-all `{name:*}` (rest of the path, may be empty, may contain '/').
// Add never panics; it returns an error for a malformed template, a bad regex, a duplicate route (same
// method and template up to parameter names), two routes ending in different parameters at the same
// position (fasthttp/router refuses those too), too many parameters or methods, or a frozen tree.
func (t *Tree[T]) Add(method, template string, value T) error {
	if t.frozen {
		return fmt.Errorf("radix: Add(%s %q) after Freeze", method, template)
	}
	if !validMethod(method) {
		return fmt.Errorf("radix: invalid method %q (want an upper-case token or \"*\")", method)
	}
	segs, err := parseTemplate(template, t.regexes)
	if err != nil {
		return err
	}
	key := method + "\x00" + shapeKey(segs)
	if i, ok := t.shapes[key]; ok {
		if r := t.routes[i]; r.Template == template {
			return fmt.Errorf("radix: duplicate route %s %s", method, template)
		}
		return fmt.Errorf("radix: route %s %s conflicts with %s %s: same path, different parameter names",
			method, template, method, t.routes[i].Template)
	}
	root := t.roots[method]
	if root == nil {
		if method != "*" && len(t.roots)-btoi(t.roots["*"] != nil) >= MaxMethods {
			return fmt.Errorf("radix: more than %d distinct methods", MaxMethods)
		}
	} else if err := t.checkParamConflict(root, method, template, segs); err != nil {
		return err
	}
	if root == nil {
		root = newNode()
		t.roots[method] = root
	}
	idx := int32(len(t.routes))
	t.routes = append(t.routes, Route[T]{Method: method, Template: template, Value: value})
	t.shapes[key] = int(idx)
	t.insert(root, segs, idx)
	return nil
}

// checkParamConflict refuses a route ending in a parameter where another route ends in a different
// parameter (`/a/{x}` vs `/a/{y:[0-9]+}`), as fasthttp/router does; a trailing slash after one of the
// two (`/a/{x}` vs `/a/{y:[0-9]+}/`) counts too, since fasthttp/router refuses that in one order and the
// trailing-slash twin would make one of the routes partly unreachable in the other. Both with a
// trailing slash is allowed, as in fasthttp/router.
func (t *Tree[T]) checkParamConflict(root *node, method, template string, segs []segment) error {
	k := len(segs) - 1
	slash := false
	if k > 0 && segs[k].kind == segStatic && segs[k].text == "" {
		k, slash = k-1, true
	}
	last := segs[k]
	if last.kind != segParam {
		return nil
	}
	n := root
	for _, s := range segs[:k] {
		switch s.kind {
		case segStatic:
			n = n.kids[s.text]
		case segParam:
			if e := n.paramEdge(s.text); e != nil {
				n = e.child
			} else {
				n = nil
			}
		}
		if n == nil {
			return nil
		}
	}
	for _, e := range n.params {
		if e.raw == last.text {
			continue
		}
		other := e.child.leaf
		if other < 0 && !slash {
			if c := e.child.kids[""]; c != nil {
				other = c.leaf
			}
		}
		if other >= 0 {
			return fmt.Errorf("radix: route %s %s conflicts with %s %s: different parameters end at the same position",
				method, template, method, t.routes[other].Template)
		}
	}
	return nil
}

func (t *Tree[T]) insert(root *node, segs []segment, idx int32) {
	n := root
	var parent *node
	for i, s := range segs {
		if s.kind == segCatchAll {
			n.catchAll, n.catchName = idx, s.name
			// fasthttp/router marks the catch-all's parent for a trailing-slash redirect when the parent
			// ends in a static segment, not when it ends in a parameter.
			if i > 0 && segs[i-1].kind == segStatic {
				n.endTSR = true
			}
			return
		}
		parent = n
		if s.kind == segStatic {
			c := n.kids[s.text]
			if c == nil {
				c = newNode()
				if n.kids == nil {
					n.kids = make(map[string]*node)
				}
				n.kids[s.text] = c
			}
			n = c
			continue
		}
		e := n.paramEdge(s.text)
		if e == nil {
			e = &paramEdge{raw: s.text, name: s.name, m: s.m, child: newNode(), seq: int(idx)}
			n.params = append(n.params, e)
		}
		n = e.child
	}
	n.leaf = idx
	last := segs[len(segs)-1]
	switch {
	case last.kind == segStatic && last.text == "":
		if len(segs) > 1 {
			parent.endTSR = true // `/a/` makes `/a` its trailing-slash twin
		}
	default:
		n.slashTSR = true // `/a` and `/a/{id}` make `/a/` and `/a/{id}/` their twins
	}
}

// Freeze finishes the tree: after it, Add fails and Lookup may be called concurrently.
// Calling Freeze more than once is harmless.
func (t *Tree[T]) Freeze() {
	if t.frozen {
		return
	}
	t.frozen = true
	for m, root := range t.roots {
		root.freeze()
		if m == "*" {
			t.any = root
		} else {
			t.methods = append(t.methods, m)
		}
	}
	sort.Strings(t.methods)
	for _, m := range t.methods {
		t.byIndex = append(t.byIndex, t.roots[m])
	}
	if len(t.methods) <= allowTableMethods {
		t.allow = make([]string, 1<<len(t.methods))
		for mask := range t.allow {
			t.allow[mask] = t.buildAllow(uint64(mask))
		}
	}
	t.shapes, t.regexes = nil, nil
}

// Lookup matches path (raw path bytes, no query) and method. On a match it returns the value and fills ps.
// If the path matches some route but not for this method, it returns found=false and allow = the Allow
// header value for that path (e.g. "GET, POST", sorted); otherwise allow is "". ps is reset first and left
// empty when found is false. Lookup does not allocate. It panics if the tree is not frozen.
func (t *Tree[T]) Lookup(method, path []byte, ps *Params) (v T, found bool, allow string) {
	if !t.frozen {
		panic("BUG: radix: Lookup before Freeze")
	}
	ps.Reset()
	if len(path) == 0 || path[0] != '/' {
		return v, false, ""
	}
	mi := t.methodIndex(method)
	if mi >= 0 {
		if r := t.byIndex[mi].match(path, 0, ps); r >= 0 {
			return t.routes[r].Value, true, ""
		}
		ps.Reset()
	}
	if t.any != nil {
		if r := t.any.match(path, 0, ps); r >= 0 {
			return t.routes[r].Value, true, ""
		}
		ps.Reset()
	}
	var mask uint64
	for i, root := range t.byIndex {
		if i != mi && root.match(path, 0, ps) >= 0 {
			mask |= 1 << uint(i)
		}
		ps.Reset()
	}
	if mask == 0 {
		return v, false, ""
	}
	return v, false, t.allowFor(mask)
}

func (t *Tree[T]) methodIndex(method []byte) int {
	for i, m := range t.methods {
		if m == string(method) {
			return i
		}
	}
	return -1
}

func (t *Tree[T]) allowFor(mask uint64) string {
	if t.allow != nil {
		return t.allow[mask]
	}
	if s, ok := t.allowM.Load(mask); ok {
		return s.(string)
	}
	// Only trees with more than allowTableMethods methods get here; each distinct Allow set allocates
	// once, on its first 405.
	s, _ := t.allowM.LoadOrStore(mask, t.buildAllow(mask))
	return s.(string)
}

func (t *Tree[T]) buildAllow(mask uint64) string {
	var b strings.Builder
	for i, m := range t.methods {
		if mask&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m)
		}
	}
	return b.String()
}

// Routes returns every route sorted by template, then method. The slice is a copy.
func (t *Tree[T]) Routes() []Route[T] {
	out := append([]Route[T](nil), t.routes...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Template != out[j].Template {
			return out[i].Template < out[j].Template
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Len returns the number of routes.
func (t *Tree[T]) Len() int { return len(t.routes) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
