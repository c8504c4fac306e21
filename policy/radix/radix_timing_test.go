package radix

import (
	"fmt"
	"math/rand"
	"testing"
)

// benchRoutes returns n routes in a realistic mix: per service a static health check, a plain
// parameter, a regex parameter, a static POST and a catch-all.
func benchRoutes(n int) (methods, templates []string) {
	for i := 0; len(templates) < n; i++ {
		svc := fmt.Sprintf("/v1/svc%d", i)
		for _, r := range [][2]string{
			{"GET", svc + "/health"},
			{"GET", svc + "/users/{id}"},
			{"GET", svc + "/orders/{id:[0-9]+}/items"},
			{"POST", svc + "/orders"},
			{"GET", svc + "/files/{path:*}"},
		} {
			if len(templates) < n {
				methods, templates = append(methods, r[0]), append(templates, r[1])
			}
		}
	}
	return methods, templates
}

func benchTree(b *testing.B, n int) *Tree[int] {
	methods, templates := benchRoutes(n)
	tr := New[int]()
	for i := range templates {
		if err := tr.Add(methods[i], templates[i], i); err != nil {
			b.Fatal(err)
		}
	}
	tr.Freeze()
	return tr
}

// benchPaths returns request paths of one kind spread over the services of an n-route tree.
func benchPaths(n int, kind string) [][]byte {
	services := (n + 4) / 5
	r := rand.New(rand.NewSource(1))
	var out [][]byte
	for i := 0; i < 256; i++ {
		svc := r.Intn(services)
		var p string
		switch kind {
		case "static":
			p = fmt.Sprintf("/v1/svc%d/health", svc)
		case "param":
			p = fmt.Sprintf("/v1/svc%d/users/u-%d", svc, r.Intn(1e6))
		case "regex":
			p = fmt.Sprintf("/v1/svc%d/orders/%d/items", svc, r.Intn(1e6))
		case "catchall":
			p = fmt.Sprintf("/v1/svc%d/files/img/%d/logo.png", svc, r.Intn(1e3))
		case "405":
			p = fmt.Sprintf("/v1/svc%d/orders", svc) // requested with GET: only POST exists
		}
		out = append(out, []byte(p))
	}
	return out
}

var benchSizes = []int{10, 100, 1000, 10000}

func BenchmarkLookup(b *testing.B) {
	get := []byte("GET")
	for _, n := range benchSizes {
		tr := benchTree(b, n)
		for _, kind := range []string{"static", "param", "regex", "catchall", "405"} {
			paths := benchPaths(n, kind)
			b.Run(fmt.Sprintf("apis=%d/%s", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				var ps Params
				for i := 0; i < b.N; i++ {
					_, found, allow := tr.Lookup(get, paths[i&255], &ps)
					if !found && allow == "" {
						b.Fatalf("%s: no match", paths[i&255])
					}
				}
			})
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	get := []byte("GET")
	for _, n := range benchSizes {
		tr := benchTree(b, n)
		var paths [][]byte
		for _, kind := range []string{"static", "param", "regex", "catchall"} {
			paths = append(paths, benchPaths(n, kind)[:64]...)
		}
		b.Run(fmt.Sprintf("apis=%d/mixed", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var ps Params
				i := 0
				for pb.Next() {
					if _, found, _ := tr.Lookup(get, paths[i&255], &ps); !found {
						b.Errorf("%s: no match", paths[i&255])
						return
					}
					i++
				}
			})
		})
	}
}

func BenchmarkBuild10000(b *testing.B) {
	methods, templates := benchRoutes(10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tr := New[int]()
		for j := range templates {
			if err := tr.Add(methods[j], templates[j], j); err != nil {
				b.Fatal(err)
			}
		}
		tr.Freeze()
	}
}
