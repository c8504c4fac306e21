package radix

// Differential test against fasthttp/router v1.5.4, the template syntax's reference implementation.
//
// fasthttp/router is configured as the data plane would use it: RedirectTrailingSlash, RedirectFixedPath
// and HandleOPTIONS off, HandleMethodNotAllowed on. For each random route set both routers get the same
// routes in the same order, and every request must give the same route, the same parameters and the same
// 404/405 (with the same Allow methods, ignoring the OPTIONS that fasthttp/router always appends).
//
// fasthttp/router's answer sometimes depends on the shape of its compressed tree rather than on the
// routes that can match: a lookup that ends exactly on an internal static node without a handler stops
// without trying that node's parameter and catch-all siblings (`/a/users/{id}` + `/a/{rest:*}` gives 404
// for `/a/users/`), and parameter siblings are ordered by how many tree children they have, not by kind.
// Such a disagreement counts as explained only when fasthttp/router itself gives our answer once the
// routes irrelevant to the request are dropped (a route is relevant when, registered alone, it matches
// the request or would redirect it for a trailing slash), optionally with regex-parameter routes
// registered first (our documented priority). Everything else fails the test.

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

type tRoute struct {
	method, tpl string
}

// outcome is what one router did with one request.
type outcome struct {
	status int // 200, 404 or 405
	route  int
	params map[string]string
	allow  string // sorted methods, OPTIONS removed
}

func (o outcome) String() string {
	switch o.status {
	case 200:
		return fmt.Sprintf("route %d %v", o.route, o.params)
	case 405:
		return "405 allow=" + o.allow
	}
	return "404"
}

func (o outcome) equal(p outcome) bool {
	if o.status != p.status || o.route != p.route || o.allow != p.allow || len(o.params) != len(p.params) {
		return false
	}
	for k, v := range o.params {
		if w, ok := p.params[k]; !ok || v != w {
			return false
		}
	}
	return true
}

const oracleRouteKey = "__radix_test_route__"

// newOracle registers routes in fasthttp/router; it reports the panic fasthttp/router raises for sets it
// refuses.
func newOracle(routes []tRoute, redirectTSR bool) (r *router.Router, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%v", p)
		}
	}()
	r = router.New()
	r.RedirectTrailingSlash = redirectTSR
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.HandleMethodNotAllowed = true
	for i, rt := range routes {
		i := i
		r.Handle(rt.method, rt.tpl, func(ctx *fasthttp.RequestCtx) { ctx.SetUserValue(oracleRouteKey, i) })
	}
	return r, nil
}

// runOracle serves one request; ok is false when fasthttp would not hand the router this exact raw path.
func runOracle(r *router.Router, method, path string) (o outcome, ok bool) {
	var ctx fasthttp.RequestCtx
	// An absolute URI keeps a path starting with "//" from being read as an authority.
	ctx.Request.SetRequestURI("http://h" + path)
	ctx.Request.Header.SetMethod(method)
	if string(ctx.Request.URI().PathOriginal()) != path {
		return o, false
	}
	r.Handler(&ctx)
	o.status = ctx.Response.StatusCode()
	switch o.status {
	case 200:
		o.params = map[string]string{}
		o.route = -1
		ctx.VisitUserValues(func(k []byte, v any) {
			if string(k) == oracleRouteKey {
				o.route = v.(int)
				return
			}
			o.params[string(k)] = v.(string)
		})
	case 405:
		var ms []string
		for _, m := range strings.Split(string(ctx.Response.Header.Peek("Allow")), ", ") {
			if m != "OPTIONS" && m != "" {
				ms = append(ms, m)
			}
		}
		sort.Strings(ms)
		o.allow = strings.Join(ms, ", ")
	case 301, 308:
		o.status = 200 // a redirect only happens in the relevance check, where it means "relevant"
		o.route = -2
	}
	return o, true
}

// buildOurs registers routes in a Tree whose values are the route indexes.
func buildOurs(routes []tRoute) (*Tree[int], error) {
	t := New[int]()
	for i, rt := range routes {
		if err := t.Add(rt.method, rt.tpl, i); err != nil {
			return nil, err
		}
	}
	t.Freeze()
	return t, nil
}

func runOurs(t *Tree[int], method, path string) outcome {
	var ps Params
	v, found, allow := t.Lookup([]byte(method), []byte(path), &ps)
	if !found {
		if allow != "" {
			return outcome{status: 405, allow: allow}
		}
		return outcome{status: 404}
	}
	o := outcome{status: 200, route: v, params: map[string]string{}}
	for i := 0; i < ps.Len(); i++ {
		o.params[ps.Name(i)] = string(ps.Value(i, []byte(path)))
	}
	return o
}

// mapRoute translates a route index of a subset back to the full set.
func remap(o outcome, idx []int) outcome {
	if o.status == 200 && o.route >= 0 {
		o.route = idx[o.route]
	}
	return o
}

// explain returns how a disagreement is accounted for by fasthttp/router's tree-shape dependence, or "".
func explain(t *testing.T, routes []tRoute, method, path string, ours outcome) string {
	var rel []tRoute
	var idx []int
	for i, rt := range routes {
		m := rt.method
		if m == "*" {
			m = "GET"
		}
		r, err := newOracle([]tRoute{rt}, true)
		if err != nil {
			t.Fatalf("BUG: single route %v refused: %v", rt, err)
		}
		if o, ok := runOracle(r, m, path); ok && o.status != 404 {
			rel = append(rel, rt)
			idx = append(idx, i)
		}
	}
	if sub, err := buildOurs(rel); err == nil {
		if o := remap(runOurs(sub, method, path), idx); !o.equal(ours) {
			t.Errorf("our answer depends on irrelevant routes: %s %s: full set %v, relevant subset %v", method, path, ours, o)
		}
	}
	try := func(rs []tRoute, ix []int, why string) string {
		r, err := newOracle(rs, false)
		if err != nil {
			return ""
		}
		if o, ok := runOracle(r, method, path); ok && remap(o, ix).equal(ours) {
			return why
		}
		return ""
	}
	if why := try(rel, idx, "oracle agrees on the relevant routes"); why != "" {
		return why
	}
	// Our priority puts regex parameters before plain ones; fasthttp/router orders parameter siblings by
	// their number of tree children, then by registration. Register the relevant routes in our order.
	order := make([]int, len(rel))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return priorityLess(rel[order[a]].tpl, rel[order[b]].tpl) })
	rs2, ix2 := make([]tRoute, len(rel)), make([]int, len(rel))
	for i, j := range order {
		rs2[i], ix2[i] = rel[j], idx[j]
	}
	return try(rs2, ix2, "oracle agrees on the relevant routes registered in our priority order")
}

// priorityLess orders two templates by the kind of their first differing segment: static, regex
// parameter, plain parameter, catch-all.
func priorityLess(a, b string) bool {
	sa, err1 := parseTemplate(a, nil)
	sb, err2 := parseTemplate(b, nil)
	if err1 != nil || err2 != nil {
		return false
	}
	rank := func(s segment) int {
		switch {
		case s.kind == segStatic:
			return 0
		case s.kind == segParam && s.m != nil:
			return 1
		case s.kind == segParam:
			return 2
		}
		return 3
	}
	for i := 0; i < len(sa) && i < len(sb); i++ {
		if sa[i].text != sb[i].text || sa[i].kind != sb[i].kind {
			return rank(sa[i]) < rank(sb[i])
		}
	}
	return false
}

// generator of random route sets and near-miss requests.
type gen struct{ r *rand.Rand }

var (
	genStatic  = []string{"a", "ab", "abc", "b", "users", "user", "usage", "orders", "v1", "me", "x", "%41", "caf%C3%A9", "é", "."}
	genPlain   = []string{"id", "name"}
	genRegex   = []string{"{n:[0-9]+}", "{s:[a-z]+}", "{h:[a-f0-9]{2,4}}", "{v:v[0-9]}"}
	genMethods = []string{"GET", "GET", "GET", "POST", "PUT", "*", "PURGE"}
)

func (g gen) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }

func (g gen) template() string {
	var b strings.Builder
	used := map[string]bool{}
	n := g.r.Intn(5)
	for i := 0; i < n; i++ {
		b.WriteByte('/')
		switch k := g.r.Intn(10); {
		case k < 6:
			b.WriteString(g.pick(genStatic))
		case k < 8:
			name := g.pick(genPlain)
			if used[name] {
				name += fmt.Sprint(i)
			}
			used[name] = true
			b.WriteString("{" + name + "}")
		default:
			re := g.pick(genRegex)
			name := re[1:2]
			if used[name] {
				re = re[:2] + fmt.Sprint(i) + re[2:]
			}
			used[name] = true
			b.WriteString(re)
		}
	}
	switch k := g.r.Intn(10); {
	case k < 2:
		b.WriteString("/{rest:*}")
	case k < 4:
		b.WriteString("/")
	case n == 0:
		b.WriteString("/")
	}
	return b.String()
}

var genValues = []string{"42", "7", "abc", "ab", "v1", "users", "me", "", "beef", "x%2Fy", "A", "é"}

// instance fills a template with parameter values, valid or not.
func (g gen) instance(tpl string) string {
	var b strings.Builder
	for i := 0; i < len(tpl); i++ {
		if tpl[i] != '{' {
			b.WriteByte(tpl[i])
			continue
		}
		j := strings.IndexByte(tpl[i:], '}')
		for strings.Count(tpl[i:i+j+1], "{") > strings.Count(tpl[i:i+j+1], "}") {
			j += 1 + strings.IndexByte(tpl[i+j+1:], '}')
		}
		if strings.HasSuffix(tpl[i:i+j+1], ":*}") {
			b.WriteString(g.pick([]string{"", "a", "a/b", "a/b/", "users/42"}))
		} else {
			b.WriteString(g.pick(genValues))
		}
		i += j
	}
	return b.String()
}

// nearMiss perturbs a path the way clients get paths almost right.
func (g gen) nearMiss(p string) string {
	switch g.r.Intn(7) {
	case 0:
		return p + "/"
	case 1:
		if len(p) > 1 {
			return p[:len(p)-1]
		}
	case 2:
		return p + "/" + g.pick(genStatic)
	case 3:
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			return p[:i+1] + g.pick(genStatic)
		}
	case 4:
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			return p[:i]
		}
	case 5:
		return strings.ToUpper(p)
	}
	return p
}

type diffStats struct {
	sets, oracleRefused, oursRefused, requests, skippedPaths, agreed int
	explained                                                        map[string]int
	refusals                                                         map[string]int
}

// compareSet runs one route set through both routers.
func compareSet(t *testing.T, st *diffStats, routes []tRoute, paths []string, methods []string, allowExplain bool) {
	t.Helper()
	st.sets++
	or, oerr := newOracle(routes, false)
	ours, err := buildOurs(routes)
	if oerr != nil {
		st.oracleRefused++
		return
	}
	if err != nil {
		st.oursRefused++
		why := "other"
		switch msg := err.Error(); {
		case strings.Contains(msg, "different parameters end at the same position"):
			why = "different parameters end at the same position"
		case strings.Contains(msg, "different parameter names"):
			why = "same path as an earlier route, different parameter names"
		default:
			t.Errorf("we refuse a set fasthttp/router accepts: %v: %v", routes, err)
		}
		st.refusals[why]++
		return
	}
	for _, p := range paths {
		for _, m := range methods {
			want, ok := runOracle(or, m, p)
			if !ok {
				st.skippedPaths++
				continue
			}
			st.requests++
			got := runOurs(ours, m, p)
			if got.equal(want) {
				st.agreed++
				continue
			}
			if allowExplain {
				if why := explain(t, routes, m, p, got); why != "" {
					st.explained[why]++
					continue
				}
			}
			t.Errorf("%s %q with routes %v:\n  fasthttp/router: %v\n  radix:           %v", m, p, routes, want, got)
		}
	}
}

func newDiffStats() *diffStats {
	return &diffStats{explained: map[string]int{}, refusals: map[string]int{}}
}

func TestDifferentialRandom(t *testing.T) {
	sets := 1500
	if testing.Short() {
		sets = 200
	}
	g := gen{rand.New(rand.NewSource(20240611))}
	st := newDiffStats()
	reqMethods := []string{"GET", "POST", "PUT", "DELETE", "PURGE"}
	for s := 0; s < sets && !t.Failed(); s++ {
		n := 1 + g.r.Intn(12)
		var routes []tRoute
		seen := map[string]bool{}
		for len(routes) < n {
			rt := tRoute{g.pick(genMethods), g.template()}
			if !seen[rt.method+rt.tpl] {
				seen[rt.method+rt.tpl] = true
				routes = append(routes, rt)
			}
		}
		var paths []string
		for _, rt := range routes {
			p := g.instance(rt.tpl)
			paths = append(paths, p, g.nearMiss(p), g.nearMiss(g.instance(rt.tpl)))
		}
		for i := 0; i < 5; i++ {
			paths = append(paths, g.instance(g.template()))
		}
		slices.Sort(paths)
		paths = slices.Compact(paths)
		compareSet(t, st, routes, paths, reqMethods, true)
	}
	t.Logf("sets %d (fasthttp/router refused %d, we refused %d: %v); requests %d, agreed %d, explained %v; paths fasthttp rewrites: %d",
		st.sets, st.oracleRefused, st.oursRefused, st.refusals, st.requests, st.agreed, st.explained, st.skippedPaths)
	accepted := st.sets - st.oracleRefused
	if st.oursRefused*20 > accepted {
		t.Errorf("we refuse %d of %d sets fasthttp/router accepts; expected under 5%%", st.oursRefused, accepted)
	}
	if st.requests < sets*20 {
		t.Errorf("only %d requests compared", st.requests)
	}
}

// TestDifferentialHand runs hand-picked sets through both routers; these must agree exactly.
func TestDifferentialHand(t *testing.T) {
	cases := []struct {
		routes []tRoute
		paths  []string
	}{
		{[]tRoute{{"GET", "/"}, {"GET", "/a"}, {"GET", "/a/b"}, {"POST", "/a/b"}, {"GET", "/ab/"}},
			[]string{"/", "/a", "/a/", "/a/b", "/a/b/", "/ab", "/ab/", "/abc", "/A", "//"}},
		{[]tRoute{{"GET", "/u/{id}"}, {"GET", "/u/{id}/orders/{n:[0-9]+}"}, {"GET", "/u/me"}, {"PUT", "/u/{id}"}},
			[]string{"/u/42", "/u/me", "/u/me/", "/u/", "/u//orders/1", "/u/7/orders/12", "/u/7/orders/x", "/u/7/orders/", "/u/%2F"}},
		{[]tRoute{{"GET", "/a/{id}"}, {"GET", "/{rest:*}"}},
			[]string{"/a/x", "/a/x/", "/a", "/b/c/", "/"}},
		{[]tRoute{{"GET", "/a/{id}/b"}, {"GET", "/a/{id}/"}},
			[]string{"/a//b", "/a//", "/a/x", "/a/x/", "/a/x/b", "/a/x/b/"}},
		{[]tRoute{{"GET", "/static"}, {"GET", "/static/{path:*}"}},
			[]string{"/static", "/static/", "/static/a", "/static/a/b/", "/staticx"}},
		{[]tRoute{{"GET", "/files/{path:*}"}, {"GET", "/files/index"}, {"GET", "/files/{name:[a-z]+}"}},
			[]string{"/files", "/files/", "/files/index", "/files/index/", "/files/abc", "/files/a/b"}},
		{[]tRoute{{"*", "/any/{x}"}, {"GET", "/any/get"}, {"DELETE", "/any/{x}/d"}},
			[]string{"/any/get", "/any/post", "/any/p/d", "/any/get/d", "/any/"}},
		{[]tRoute{{"GET", "/caf%C3%A9"}, {"GET", "/%41"}, {"GET", "/é"}},
			[]string{"/caf%C3%A9", "/café", "/%41", "/A", "/%c3%a9", "/é"}},
		{[]tRoute{{"GET", "/n/{id:[0-9]+}"}, {"GET", "/n/{id:[0-9]+}/x"}, {"GET", "/n/new"}, {"GET", "/h/{h:[a-f0-9]{2,4}}"}},
			[]string{"/n/1", "/n/12a", "/n/new", "/n/neww", "/n/1/x", "/n/x/x", "/n/", "/h/ab", "/h/abcde", "/h/a", "/h/ABC"}},
		{[]tRoute{{"GET", "/a/{x}/p"}, {"GET", "/a/{y}/q"}, {"POST", "/a/{z}"}},
			[]string{"/a/1/p", "/a/1/q", "/a/1", "/a/1/r"}},
	}
	st := newDiffStats()
	for _, c := range cases {
		compareSet(t, st, c.routes, c.paths, []string{"GET", "POST", "PUT", "DELETE"}, false)
	}
	if st.oracleRefused+st.oursRefused != 0 {
		t.Errorf("a hand set was refused: %+v", st)
	}
}

// TestOracleShapeQuirk pins down the documented disagreements: fasthttp/router's lookup stops on an
// internal static node of its compressed tree (here "/a/users/" or "/a/") and never tries the catch-all;
// without the route that created that node it matches the catch-all. We answer the catch-all in both cases.
func TestOracleShapeQuirk(t *testing.T) {
	cases := []struct {
		routes []tRoute
		path   string
		rest   string
	}{
		{[]tRoute{{"GET", "/a/users/{id}"}, {"GET", "/a/{rest:*}"}}, "/a/users/", "users/"},
		{[]tRoute{{"GET", "/a/{id}"}, {"GET", "/{rest:*}"}}, "/a/", "a/"},
	}
	for _, c := range cases {
		or, err := newOracle(c.routes, false)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := runOracle(or, "GET", c.path); o.status != 404 {
			t.Fatalf("fasthttp/router changed: %v", o)
		}
		or2, _ := newOracle(c.routes[1:], false)
		if o, _ := runOracle(or2, "GET", c.path); o.status != 200 || o.params["rest"] != c.rest {
			t.Fatalf("fasthttp/router changed: %v", o)
		}
		ours, err := buildOurs(c.routes)
		if err != nil {
			t.Fatal(err)
		}
		got := runOurs(ours, "GET", c.path)
		if got.status != 200 || got.route != 1 || got.params["rest"] != c.rest {
			t.Fatalf("%v %s: got %v", c.routes, c.path, got)
		}
		if why := explain(t, c.routes, "GET", c.path, got); why == "" {
			t.Fatalf("%v %s: not explained", c.routes, c.path)
		}
	}
}
