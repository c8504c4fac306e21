//go:build !race

package radix

import (
	"fmt"
	"testing"
)

func TestLookupAllocations(t *testing.T) {
	tr := New[int]()
	routes := []struct{ m, tpl string }{
		{"GET", "/v1/static/health"},
		{"GET", "/v1/users/{id}"},
		{"GET", "/v1/orders/{id:[0-9]+}/items"},      // byte-set fast path
		{"GET", "/v1/tags/{tag:(?:v[0-9]+|latest)}"}, // general regexp.Match
		{"GET", "/v1/mail/{addr:[^@/]+@[a-z.]+}"},    // non-ASCII-capable class: regexp.Match
		{"GET", "/v1/files/{path:*}"},
		{"POST", "/v1/users/{id}"},
		{"*", "/any/{x}"},
	}
	for i, r := range routes {
		if err := tr.Add(r.m, r.tpl, i); err != nil {
			t.Fatal(err)
		}
	}
	tr.Freeze()
	cases := []struct {
		method, path string
		found        bool
		allow        string
	}{
		{"GET", "/v1/static/health", true, ""},
		{"GET", "/v1/users/42", true, ""},
		{"GET", "/v1/orders/123/items", true, ""},
		{"GET", "/v1/tags/v12", true, ""},
		{"GET", "/v1/tags/latest", true, ""},
		{"GET", "/v1/mail/a%40b@example.org", true, ""},
		{"GET", "/v1/files/a/b/c.txt", true, ""},
		{"GET", "/v1/files/", true, ""},
		{"DELETE", "/any/x", true, ""},
		{"PUT", "/v1/users/42", false, "GET, POST"},
		{"GET", "/v1/orders/x/items", false, ""},
		{"GET", "/nope", false, ""},
	}
	var ps Params
	for _, c := range cases {
		m, p := []byte(c.method), []byte(c.path)
		_, found, allow := tr.Lookup(m, p, &ps)
		if found != c.found || allow != c.allow {
			t.Fatalf("%s %s: found=%v allow=%q", c.method, c.path, found, allow)
		}
		if n := testing.AllocsPerRun(200, func() { tr.Lookup(m, p, &ps) }); n != 0 {
			t.Errorf("%s %s: %v allocs per Lookup", c.method, c.path, n)
		}
	}
}

func TestLookupAllocationsManyMethods(t *testing.T) {
	tr := New[int]()
	for i := 0; i < allowTableMethods+3; i++ {
		if err := tr.Add(fmt.Sprintf("M%d", i), "/x/{id}", i); err != nil {
			t.Fatal(err)
		}
	}
	tr.Freeze()
	var ps Params
	m, p := []byte("GET"), []byte("/x/1")
	if _, _, allow := tr.Lookup(m, p, &ps); allow == "" {
		t.Fatal("no allow")
	}
	if n := testing.AllocsPerRun(200, func() { tr.Lookup(m, p, &ps) }); n != 0 {
		t.Errorf("%v allocs per cached 405 Lookup", n)
	}
}
