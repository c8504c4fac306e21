package casign

import (
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/store/nonce"
)

// benchRequest is a typical signed GET: three query parameters and two
// signed headers (x-ca-nonce, x-ca-timestamp), as the server parses it.
func benchRequest(b *testing.B) *fasthttp.Request {
	return parseRaw(b, `GET /v1/users?limit=10&offset=20&sort=name HTTP/1.1
Host: api.example.com
Accept: application/json
User-Agent: bench
X-Ca-Key: app-1
X-Ca-Timestamp: 1772366400000
X-Ca-Nonce: 00000000-0000-4000-8000-000000000000
X-Ca-Signature-Headers: x-ca-nonce,x-ca-timestamp
X-Ca-Signature: placeholder

`)
}

// BenchmarkVerify is the full server-side check of benchRequest: adapter,
// timestamp, key lookup, string to sign, HMAC-SHA256, constant-time compare
// and a nonce store insert. Every iteration carries a fresh nonce (from 4096
// pre-signed ones; the store is emptied, timer stopped, before they repeat),
// so the store does real inserts. Two header writes per iteration to swap
// the nonce and signature in are included (~2x20 ns).
func BenchmarkVerify(b *testing.B) {
	store := nonce.NewLocal(nonce.Config{MaxEntries: 1 << 16})
	v, err := NewVerifier(Config{}, testKeys(), store)
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest(b)
	const k = 4096
	nonces, sigs := make([][]byte, k), make([][]byte, k)
	sec := NewSecret([]byte("secret-1"))
	r := AcquireRequest()
	for i := range k {
		nonces[i] = []byte("00000000-0000-4000-8000-" + strconv.FormatInt(1e11+int64(i), 10)[:12])
		req.Header.SetBytesV(HeaderNonce, nonces[i])
		r.Reset()
		v.LoadFastHTTP(r, req)
		sigs[i] = sec.AppendSignature(nil, HmacSHA256, AppendStringToSign(nil, &r.Input))
	}
	now := t0.UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % k
		if j == 0 && i > 0 {
			b.StopTimer()
			store.Reset()
			b.StartTimer()
		}
		req.Header.SetBytesV(HeaderNonce, nonces[j])
		req.Header.SetBytesV(HeaderSignature, sigs[j])
		r.Reset()
		if _, err := v.VerifyFastHTTP(r, req, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStringToSign builds benchRequest's string to sign from a loaded
// Request (sorting included).
func BenchmarkStringToSign(b *testing.B) {
	v, _ := NewVerifier(Config{AllowMissingNonce: true}, testKeys(), nil)
	r := AcquireRequest()
	v.LoadFastHTTP(r, benchRequest(b))
	var dst []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = AppendStringToSign(dst[:0], &r.Input)
	}
}
