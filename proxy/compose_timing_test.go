package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkCompositeThreeCalls: a composite API of three /echo calls through
// the real gateway on loopback, client and origin in this process. allocs/op
// counts the whole process (client and origin included); compare with
// BenchmarkCompositePlain, the same origin behind a plain API.
//
//	go test -run '^$' -bench 'Composite(ThreeCalls|Plain)' -benchmem ./proxy/
func BenchmarkCompositeThreeCalls(b *testing.B) {
	benchComposite(b, "/dash/42")
}

func BenchmarkCompositePlain(b *testing.B) {
	benchComposite(b, "/plain/42")
}

func benchComposite(b *testing.B, uri string) {
	g := startGateway(b, `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]

[[backends]]
name = "dash"
compose = [
  { name = "user", backend = "origin", path = "/echo?user={id}", key = "user" },
  { name = "orders", backend = "origin", path = "/echo?orders={id}", key = "orders" },
  { name = "stock", backend = "origin", path = "/echo?stock={id}", key = "stock", required = false },
]

[[groups]]
name = "g"

[[groups.apis]]
name = "dash"
methods = ["GET"]
path = "/dash/{id}"
backend = "dash"

[[groups.apis]]
name = "plain"
methods = ["GET"]
path = "/plain/{id}"
backend = "origin"
backend_path = "/echo?user={id}"
`)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + g.addr + uri)
		for pb.Next() {
			if err := g.client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
			}
		}
	})
}
