package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestDefect14StagesHaveTheirOwnBuckets: three X-Ca-Stage: TEST requests
// used to spend a client's RELEASE burst, because the bucket key had no
// stage. Stages now get their own buckets, api, consumer and client_ip
// alike; rate_limit.share_stages = true puts them back in one.
func TestDefect14StagesHaveTheirOwnBuckets(t *testing.T) {
	const api = `
[[groups.apis]]
name = "limited"
path = "/limited"
backend = "origin"
stages = ["RELEASE", "TEST"]
[groups.apis.auth]
modes = ["key"]
[groups.apis.rate_limit]
consumer = { rate = 0.001, burst = 2 }
client_ip = { rate = 0.001, burst = 5 }
`
	cfg := trBackend + trConsumers("c1") + "\n[[groups]]\nname = \"g\"\n" + api
	send := func(g *gateway, stage string) int {
		st, _, _ := g.do("GET", "/limited", map[string]string{"X-Api-Key": trKey("c1"), "X-Ca-Stage": stage}, nil)
		return st
	}

	g := startGateway(t, cfg)
	for i, want := range []int{200, 200, 429} {
		if st := send(g, "TEST"); st != want {
			t.Fatalf("TEST request %d: %d, want %d", i+1, st, want)
		}
	}
	for i, want := range []int{200, 200, 429} {
		if st := send(g, "RELEASE"); st != want {
			t.Fatalf("RELEASE request %d after the TEST burst: %d, want %d (TEST spent RELEASE's bucket)", i+1, st, want)
		}
	}

	shared := startGateway(t, cfg+"share_stages = true\n")
	for i, want := range []int{200, 200, 429} {
		if st := send(shared, "TEST"); st != want {
			t.Fatalf("shared: TEST request %d: %d, want %d", i+1, st, want)
		}
	}
	st, h, body := shared.do("GET", "/limited", map[string]string{"X-Api-Key": trKey("c1")}, nil)
	wantError(t, st, h, body, fasthttp.StatusTooManyRequests, CodeThrottled)
}
