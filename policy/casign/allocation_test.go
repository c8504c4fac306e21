//go:build !race

package casign

import (
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAppendStringToSignZeroAlloc(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	r := AcquireRequest()
	v.LoadFastHTTP(r, parseRaw(t, vectors[1].raw)) // form body, query, headers
	var dst []byte
	allocs := testing.AllocsPerRun(1000, func() {
		dst = AppendStringToSign(dst[:0], &r.Input)
	})
	if allocs != 0 {
		t.Fatalf("AppendStringToSign allocates %v times", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		dst = AppendDebugStringToSign(dst[:0], &r.Input)
	})
	if allocs != 0 {
		t.Fatalf("AppendDebugStringToSign allocates %v times", allocs)
	}
}

// TestVerifyZeroAlloc drives the full fasthttp verification path: adapter,
// checks, HMAC under two secrets, Content-MD5 and the nonce store. The nonce
// changes every run, so each run takes the next of a set of pre-signed
// requests.
func TestVerifyZeroAlloc(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	const n = 300
	reqs := make([]*fasthttp.Request, n)
	for i := range reqs {
		reqs[i] = signed(t, reqSpec{method: "POST", uri: "/v1/orders?a=1&b=2&c=3", headers: [][2]string{
			{"Content-Type", "application/json"}, {"X-Tenant", "acme"}}, body: `{"x":1}`},
			"app-2", "new-secret", SignOptions{Nonce: "alloc-" + strconv.Itoa(i), SignHeaders: []string{"X-Tenant"}})
		// A server reuses its fasthttp.Request objects, so their internal
		// buffers (parsed URI, query args, header-name scratch) are warm;
		// each of these is used once, so warm them here with a load.
		w := AcquireRequest()
		v.LoadFastHTTP(w, reqs[i])
		ReleaseRequest(w)
	}
	// Warm the pools and scratch buffers.
	r := AcquireRequest()
	if _, err := v.VerifyFastHTTP(r, reqs[0], t0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	ReleaseRequest(r)
	i := 1
	var failed error
	allocs := testing.AllocsPerRun(n-2, func() {
		r := AcquireRequest()
		if _, err := v.VerifyFastHTTP(r, reqs[i], t0.UnixNano()); err != nil {
			failed = err
		}
		ReleaseRequest(r)
		i++
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Fatalf("VerifyFastHTTP allocates %v times per request", allocs)
	}

	// The failure path used for X-Ca-Error-Message must not allocate either.
	bad := wire(t, reqs[0])
	bad.Header.SetMethod("PUT")
	w := AcquireRequest()
	v.LoadFastHTTP(w, bad)
	ReleaseRequest(w)
	var dst []byte
	allocs = testing.AllocsPerRun(100, func() {
		r := AcquireRequest()
		if _, err := v.VerifyFastHTTP(r, bad, t0.UnixNano()); err == ErrBadSignature {
			dst = AppendDebugStringToSign(dst[:0], &r.Input)
		}
		ReleaseRequest(r)
	})
	if allocs != 0 {
		t.Fatalf("BadSignature path allocates %v times", allocs)
	}
}
