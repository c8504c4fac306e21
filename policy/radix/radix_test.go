package radix

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// build registers routes given as "METHOD template" and freezes the tree; values are the templates.
func build(t *testing.T, routes ...string) *Tree[string] {
	t.Helper()
	tr := New[string]()
	for _, r := range routes {
		m, tpl, _ := strings.Cut(r, " ")
		if err := tr.Add(m, tpl, r); err != nil {
			t.Fatalf("Add(%q): %v", r, err)
		}
	}
	tr.Freeze()
	return tr
}

// describe renders a lookup as "GET /a/{id} id=7", "404" or "405 GET, POST".
func describe(tr *Tree[string], method, path string) string {
	var ps Params
	v, found, allow := tr.Lookup([]byte(method), []byte(path), &ps)
	if !found {
		if ps.Len() != 0 {
			return "BUG: params left on a miss"
		}
		if allow != "" {
			return "405 " + allow
		}
		return "404"
	}
	var b strings.Builder
	b.WriteString(v)
	for i := 0; i < ps.Len(); i++ {
		fmt.Fprintf(&b, " %s=%s", ps.Name(i), ps.Value(i, []byte(path)))
	}
	return b.String()
}

type lookupCase struct{ method, path, want string }

func check(t *testing.T, tr *Tree[string], cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		if got := describe(tr, c.method, c.path); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestStatic(t *testing.T) {
	tr := build(t, "GET /", "GET /a", "GET /a/b", "GET /ab", "GET /a/b/c/", "GET /x//y")
	check(t, tr, []lookupCase{
		{"GET", "/", "GET /"},
		{"GET", "/a", "GET /a"},
		{"GET", "/a/b", "GET /a/b"},
		{"GET", "/ab", "GET /ab"},
		{"GET", "/a/b/c/", "GET /a/b/c/"},
		{"GET", "/x//y", "GET /x//y"},
		{"GET", "/A", "404"},
		{"GET", "/abc", "404"},
		{"GET", "/a/b/c", "404"},
		{"GET", "", "404"},
		{"GET", "a", "404"},
		{"GET", "//", "404"},
	})
}

func TestParams(t *testing.T) {
	tr := build(t, "GET /u/{id}", "GET /u/{id}/orders/{order}", "GET /u/me", "GET /p/{id}/x")
	check(t, tr, []lookupCase{
		{"GET", "/u/42", "GET /u/{id} id=42"},
		{"GET", "/u/me", "GET /u/me"},
		{"GET", "/u/mex", "GET /u/{id} id=mex"},
		{"GET", "/u/7/orders/9", "GET /u/{id}/orders/{order} id=7 order=9"},
		{"GET", "/u/me/orders/9", "GET /u/{id}/orders/{order} id=me order=9"}, // backtracks from static "me"
		{"GET", "/u/", "404"},                                                 // a parameter never matches an empty last segment
		{"GET", "/p//x", "GET /p/{id}/x id="},                                 // but may be empty in the middle
		{"GET", "/u/a%2Fb", "GET /u/{id} id=a%2Fb"},
	})
}

func TestRegexParams(t *testing.T) {
	tr := build(t, "GET /n/{id:[0-9]+}", "GET /n/{name}/x", "GET /n/new", "GET /h/{h:[a-f0-9]{2,4}}",
		"GET /alt/{x:a|ab}", "GET /w/{w:(?i)k}", "GET /any/{a:.+}")
	check(t, tr, []lookupCase{
		{"GET", "/n/123", "GET /n/{id:[0-9]+} id=123"},
		{"GET", "/n/12a/x", "GET /n/{name}/x name=12a"},
		{"GET", "/n/12/x", "GET /n/{name}/x name=12"}, // regex branch fails further down: backtrack
		{"GET", "/n/12a", "404"},
		{"GET", "/n/new", "GET /n/new"},
		{"GET", "/h/ab", "GET /h/{h:[a-f0-9]{2,4}} h=ab"},
		{"GET", "/h/abcd", "GET /h/{h:[a-f0-9]{2,4}} h=abcd"},
		{"GET", "/h/abcde", "404"},
		{"GET", "/h/a", "404"},
		{"GET", "/h/AB", "404"},
		// Whole-segment semantics (^(?:a|ab)$); fasthttp/router's leftmost-first prefix match refuses "ab".
		{"GET", "/alt/ab", "GET /alt/{x:a|ab} x=ab"},
		{"GET", "/w/K", "GET /w/{w:(?i)k} w=K"},
		{"GET", "/w/\u212a", "GET /w/{w:(?i)k} w=\u212a"}, // Kelvin sign folds to k
		{"GET", "/any/é", "GET /any/{a:.+} a=é"},
	})
}

func TestCatchAll(t *testing.T) {
	tr := build(t, "GET /static/{path:*}", "GET /static/index", "GET /{all:*}", "GET /p/{id}/{rest:*}")
	check(t, tr, []lookupCase{
		{"GET", "/static/", "GET /static/{path:*} path="},
		{"GET", "/static/a/b/", "GET /static/{path:*} path=a/b/"},
		{"GET", "/static/index", "GET /static/index"},
		{"GET", "/static/index/", "404"}, // trailing-slash twin of /static/index
		{"GET", "/static", "404"},        // twin of the catch-all's directory
		{"GET", "/", "GET /{all:*} all="},
		{"GET", "/x/y", "GET /{all:*} all=x/y"},
		{"GET", "/p/1/", "GET /p/{id}/{rest:*} id=1 rest="},
		{"GET", "/p/1", "GET /{all:*} all=p/1"}, // no twin after a parameter: falls back to /{all:*}
	})
}

func TestTrailingSlash(t *testing.T) {
	tr := build(t, "GET /a", "GET /b/", "GET /c/{id}", "GET /{rest:*}", "GET /d", "GET /d/")
	check(t, tr, []lookupCase{
		{"GET", "/a", "GET /a"},
		{"GET", "/a/", "404"}, // no redirect, and the catch-all is not consulted for a twin
		{"GET", "/b/", "GET /b/"},
		{"GET", "/b", "404"},
		{"GET", "/c/1", "GET /c/{id} id=1"},
		{"GET", "/c/1/", "404"},
		{"GET", "/c/1/x", "GET /{rest:*} rest=c/1/x"},
		{"GET", "/d", "GET /d"}, // both registered: each its own route
		{"GET", "/d/", "GET /d/"},
	})
}

func TestMethods(t *testing.T) {
	tr := build(t, "GET /r", "POST /r", "DELETE /r/{id}", "* /any", "GET /any", "PURGE /r", "PUT /p/{x}", "GET /p/me")
	check(t, tr, []lookupCase{
		{"GET", "/r", "GET /r"},
		{"POST", "/r", "POST /r"},
		{"PURGE", "/r", "PURGE /r"},
		{"PUT", "/r", "405 GET, POST, PURGE"},
		{"OPTIONS", "/r", "405 GET, POST, PURGE"},
		{"get", "/r", "405 GET, POST, PURGE"},
		{"GET", "/r/1", "405 DELETE"},
		{"GET", "/any", "GET /any"},
		{"PATCH", "/any", "* /any"},
		{"GET", "/p/me", "GET /p/me"},
		{"POST", "/p/me", "405 GET, PUT"},
		{"GET", "/nope", "404"},
	})
}

func TestManyMethodsAllow(t *testing.T) {
	tr := New[string]()
	var want []string
	for i := 0; i < 12; i++ {
		m := fmt.Sprintf("M%02d", i)
		if err := tr.Add(m, "/x", m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	tr.Freeze()
	for i := 0; i < 2; i++ { // second round is served from the cache
		if got := describe(tr, "GET", "/x"); got != "405 "+strings.Join(want, ", ") {
			t.Fatalf("got %q", got)
		}
	}
}

func TestPercentEncodedLiteral(t *testing.T) {
	tr := build(t, "GET /caf%C3%A9", "GET /é/{x}")
	check(t, tr, []lookupCase{
		{"GET", "/caf%C3%A9", "GET /caf%C3%A9"},
		{"GET", "/café", "404"},
		{"GET", "/caf%c3%a9", "404"},
		{"GET", "/é/%20", "GET /é/{x} x=%20"},
		{"GET", "/%C3%A9/a", "404"},
	})
}

func TestAddErrors(t *testing.T) {
	cases := []struct{ existing, add, want string }{
		{"", "GET a", "must begin with '/'"},
		{"", "GET ", "must begin with '/'"},
		{"", "get /a", "invalid method"},
		{"", " /a", "invalid method"},
		{"", "GÉT /a", "invalid method"},
		{"", "GET /a/{", "unclosed '{'"},
		{"", "GET /a/{id", "unclosed '{'"},
		{"", "GET /a/{id:[0-9]+", "unclosed '{'"},
		{"", "GET /a/}", "unbalanced '}'"},
		{"", "GET /a/{}", "empty name"},
		{"", "GET /a/{:[0-9]+}", "empty name"},
		{"", "GET /a/{id:}", "empty regex"},
		{"", "GET /a/{i d}", "parameter name"},
		{"", "GET /a/{a{b}}", "'{' in a parameter name"},
		{"", "GET /a/{id?}", "optional parameters"},
		{"", "GET /a/x{id}", "whole path segment"},
		{"", "GET /a/{id}x", "whole path segment"},
		{"", "GET /a/{a}-{b}", "whole path segment"},
		{"", "GET /a/{id:[0-9}", "bad regex"},
		{"", "GET /a/{id:(}", "bad regex"},
		{"", "GET /a/{id:)(}", "bad regex"},
		{"", "GET /a/{id:[z-a]}", "bad regex"},
		{"", "GET /a/{p:*}/b", "must be the last segment"},
		{"", "GET /a/{p:*}/", "must be the last segment"},
		{"", "GET /a{p:*}", "whole path segment"},
		{"", "GET /{a}/{a}", "used twice"},
		{"", "GET /a b", "space byte"},
		{"", "GET /a?b", "cannot occur"},
		{"", "GET /a#b", "cannot occur"},
		{"", "GET /{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}", "more than 16 parameters"},
		{"", "GET /" + strings.Repeat("a", MaxTemplateLen), "longer than"},
		{"GET /a/{x}", "GET /a/{x}", "duplicate route"},
		{"GET /a/{x}", "GET /a/{y}", "different parameter names"},
		{"GET /a/{x:[0-9]+}", "GET /a/{y:[0-9]+}", "different parameter names"},
		{"GET /a/{x}", "GET /a/{y:[0-9]+}", "different parameters end at the same position"},
		{"GET /a/{y:[0-9]+}", "GET /a/{x}", "different parameters end at the same position"},
		{"GET /a/{y:[0-9]+}", "GET /a/{x:[a-z]+}", "different parameters end at the same position"},
		{"GET /a/{x}", "GET /a/{y:[0-9]+}/", "different parameters end at the same position"},
		{"GET /a/{y:[0-9]+}/", "GET /a/{x}", "different parameters end at the same position"},
		{"GET /a/{x}/", "GET /a/{y}/", "different parameter names"},
		{"GET /s/{a:*}", "GET /s/{b:*}", "different parameter names"},
		{"GET /s/{a:*}", "GET /s/{a:*}", "duplicate route"},
		{"* /s", "* /s", "duplicate route"},
	}
	for _, c := range cases {
		tr := New[int]()
		if c.existing != "" {
			m, tpl, _ := strings.Cut(c.existing, " ")
			if err := tr.Add(m, tpl, 0); err != nil {
				t.Fatalf("setup %q: %v", c.existing, err)
			}
		}
		m, tpl, _ := strings.Cut(c.add, " ")
		err := tr.Add(m, tpl, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%q) after %q: got %v, want error containing %q", c.add, c.existing, err, c.want)
		}
		if tr.Len() != btoi(c.existing != "") {
			t.Errorf("Add(%q): failed Add registered a route", c.add)
		}
	}
}

func TestAddAccepted(t *testing.T) {
	// Same-position parameters are fine when they do not both end there, and different methods never clash.
	tr := build(t, "GET /a/{x}/p", "GET /a/{y}/q", "GET /a/{z:[0-9]+}/r", "POST /a/{w}", "PUT /a/{v}",
		"GET /b/{x:[0-9]+}/", "GET /b/{y}/", "GET /re/{id:[0-9]{3}}", "GET /slash/{x:[^/]+}")
	check(t, tr, []lookupCase{
		{"GET", "/a/1/p", "GET /a/{x}/p x=1"},
		{"GET", "/a/1/q", "GET /a/{y}/q y=1"},
		{"GET", "/a/1/r", "GET /a/{z:[0-9]+}/r z=1"},
		{"GET", "/b/1/", "GET /b/{x:[0-9]+}/ x=1"},
		{"GET", "/b/z/", "GET /b/{y}/ y=z"},
		{"GET", "/b/z", "404"},
		{"GET", "/re/123", "GET /re/{id:[0-9]{3}} id=123"},
		{"GET", "/re/1234", "404"},
		{"GET", "/slash/ok", "GET /slash/{x:[^/]+} x=ok"},
	})
}

func TestAddAfterFreeze(t *testing.T) {
	tr := build(t, "GET /a")
	if err := tr.Add("GET", "/b", "x"); err == nil || !strings.Contains(err.Error(), "after Freeze") {
		t.Fatalf("got %v", err)
	}
	tr.Freeze() // idempotent
	if got := describe(tr, "GET", "/a"); got != "GET /a" {
		t.Fatalf("got %q", got)
	}
}

func TestLookupBeforeFreezePanics(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), "BUG:") {
			t.Fatalf("recovered %v", p)
		}
	}()
	var ps Params
	New[int]().Lookup([]byte("GET"), []byte("/"), &ps)
}

func TestTooManyMethods(t *testing.T) {
	tr := New[int]()
	for i := 0; i < MaxMethods; i++ {
		if err := tr.Add(fmt.Sprintf("M%d", i), "/", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Add("*", "/", 0); err != nil {
		t.Fatalf("\"*\" must not count: %v", err)
	}
	if err := tr.Add("EXTRA", "/", 0); err == nil {
		t.Fatal("65th method accepted")
	}
}

func TestParamsAccessors(t *testing.T) {
	tr := build(t, "GET /o/{org}/r/{repo:[a-z]+}/{rest:*}")
	path := []byte("/o/acme/r/web/a/b")
	var ps Params
	if _, found, _ := tr.Lookup([]byte("GET"), path, &ps); !found {
		t.Fatal("no match")
	}
	if ps.Len() != 3 || ps.Index("repo") != 1 || ps.Index("nope") != -1 || ps.Name(2) != "rest" {
		t.Fatalf("params %+v", ps)
	}
	if v, ok := ps.Get("org", path); !ok || string(v) != "acme" {
		t.Fatalf("org %q %v", v, ok)
	}
	if s, e := ps.Span(2); string(path[s:e]) != "a/b" {
		t.Fatalf("span %d %d", s, e)
	}
	if _, ok := ps.Get("nope", path); ok {
		t.Fatal("Get of a missing name")
	}
	// Value is capped: appending to it must not overwrite the path.
	v := ps.Value(0, path)
	_ = append(v, 'X')
	if string(path) != "/o/acme/r/web/a/b" {
		t.Fatalf("path overwritten: %q", path)
	}
	ps.Reset()
	if ps.Len() != 0 {
		t.Fatal("Reset")
	}
}

func TestRoutesSorted(t *testing.T) {
	tr := build(t, "POST /b", "GET /b", "GET /a/{id}", "* /a")
	var got []string
	for _, r := range tr.Routes() {
		got = append(got, r.Method+" "+r.Template+"="+r.Value)
	}
	want := "* /a=* /a|GET /a/{id}=GET /a/{id}|GET /b=GET /b|POST /b=POST /b"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %v", got)
	}
}

func TestConcurrentLookup(t *testing.T) {
	tr := build(t, "GET /u/{id:[0-9]+}", "GET /u/{name}/x", "GET /f/{p:*}", "POST /u/{id:[0-9]+}/x")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if got := describe(tr, "GET", "/u/12"); got != "GET /u/{id:[0-9]+} id=12" {
					t.Errorf("got %q", got)
					return
				}
				if got := describe(tr, "PUT", "/u/1/x"); got != "405 GET, POST" {
					t.Errorf("got %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestDeepBacktracking(t *testing.T) {
	// Every level offers a regex and a plain parameter; only the last plain chain matches.
	var routes []string
	tpl := ""
	for i := 0; i < 10; i++ {
		tpl += fmt.Sprintf("/{r%d:[0-9]+}", i)
	}
	routes = append(routes, "GET "+tpl+"/end")
	tpl = ""
	for i := 0; i < 10; i++ {
		tpl += fmt.Sprintf("/{p%d}", i)
	}
	routes = append(routes, "GET "+tpl+"/other")
	tr := build(t, routes...)
	path := strings.Repeat("/1", 10) + "/other"
	if got := describe(tr, "GET", path); !strings.HasPrefix(got, "GET /{p0}") {
		t.Fatalf("got %q", got)
	}
}
