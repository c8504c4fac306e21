package casign

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parseRaw parses a raw HTTP/1.1 request as the server would receive it.
func parseRaw(t testing.TB, raw string) *fasthttp.Request {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	req := &fasthttp.Request{}
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse raw request: %v", err)
	}
	return req
}

// refMAC is an independent HMAC computation with crypto/hmac only.
func refMAC(alg Algorithm, secret, msg string) string {
	var nh func() hash.Hash = sha256.New
	if alg == HmacSHA1 {
		nh = sha1.New
	}
	m := hmac.New(nh, []byte(secret))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// wire renders a client-side fasthttp request to bytes and parses them back
// as a server would, so tests go through real HTTP framing.
func wire(t testing.TB, req *fasthttp.Request) *fasthttp.Request {
	t.Helper()
	s := req.String()
	out := &fasthttp.Request{}
	if err := out.Read(bufio.NewReader(strings.NewReader(s))); err != nil {
		t.Fatalf("re-parse %q: %v", s, err)
	}
	return out
}
