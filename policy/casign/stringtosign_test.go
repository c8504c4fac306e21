package casign

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// Vectors: the expected strings to sign are written out by hand from the
// protocol description; the expected MACs were computed with Python's hmac
// module (an implementation independent of Go's) and are re-checked here
// against crypto/hmac.
var vectors = []struct {
	name       string
	raw        string // request as received
	asListed   bool
	want       string
	sha256, sh string // base64 HMACs under "secret-1"
}{
	{
		name: "alibaba doc style GET",
		raw: `GET /http2test/test?username=xiaoming&password=123456789&param1=test HTTP/1.1
Host: api.example.com
Accept: application/json
X-Ca-Key: 203753385
X-Ca-Nonce: c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44
X-Ca-Signature-Method: HmacSHA256
X-Ca-Timestamp: 1525872629832
X-Ca-Signature-Headers: x-ca-timestamp,x-ca-key,x-ca-nonce,x-ca-signature-method

`,
		want: "GET\napplication/json\n\n\n\n" +
			"x-ca-key:203753385\nx-ca-nonce:c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44\n" +
			"x-ca-signature-method:HmacSHA256\nx-ca-timestamp:1525872629832\n" +
			"/http2test/test?param1=test&password=123456789&username=xiaoming",
		sha256: "E2O2T5cHbJq9wSHDjbgoRnIJt8lWkbnx5WFdmRDAHbc=",
		sh:     "Mcud5YCFgwpS0KAfQgtak1LjZJo=",
	},
	{
		name: "POST form, unicode, empty value, mixed-case names, excluded names listed",
		raw: `POST /shop/orders?q=x%2By&empty= HTTP/1.1
Host: api.example.com
Accept: application/json; charset=utf-8
Content-Type: application/x-www-form-urlencoded; charset=utf-8
Date: Wed, 09 May 2018 13:30:29 GMT
X-Ca-Key: 203753385
X-Ca-Nonce: n-2
X-Ca-Timestamp: 1525872629832
X-Custom: v
X-Ca-Signature-Headers: X-Ca-Key, x-ca-nonce ,X-CA-Timestamp,X-Custom,Accept,date,X-Ca-Signature
Content-Length: 38

name=%E6%9D%8E%E9%9B%B7&note=a+b&=skip`,
		want: "POST\napplication/json; charset=utf-8\n\napplication/x-www-form-urlencoded; charset=utf-8\n" +
			"Wed, 09 May 2018 13:30:29 GMT\n" +
			"x-ca-key:203753385\nx-ca-nonce:n-2\nx-ca-timestamp:1525872629832\nx-custom:v\n" +
			"/shop/orders?empty&name=李雷&note=a b&q=x+y",
		sha256: "JSCJD6t7h0T5f3b/Zatz5xTCfEpdIzAR0T4+8nKwgYo=",
		sh:     "D2DQBSdvzT9MWOvRuYk+M7lS5Io=",
	},
	{
		name: "PUT JSON with Content-MD5, lower-case method",
		raw: `put /items/42 HTTP/1.1
Host: h
Content-Type: application/json
Content-MD5: XrY7u+Ae7tCTyyK7j1rNww==
X-Ca-Key: k3
X-Ca-Nonce: n3
X-Ca-Timestamp: 1700000000000
X-Ca-Signature-Headers: x-ca-key,x-ca-nonce,x-ca-timestamp
Content-Length: 11

hello world`,
		want:   "PUT\n\nXrY7u+Ae7tCTyyK7j1rNww==\napplication/json\n\nx-ca-key:k3\nx-ca-nonce:n3\nx-ca-timestamp:1700000000000\n/items/42",
		sha256: "3EKHM5oTvcrtGtZ6f4AoOVoi470jFNFXc8gJ0VdmCdY=",
		sh:     "gOJzVpMOXK0ECUC2bC2VVMcTUMk=",
	},
	{
		name:   "bare GET",
		raw:    "GET / HTTP/1.1\nHost: h\n\n",
		want:   "GET\n\n\n\n\n/",
		sha256: "M8Vk22N+LuFlR7Zpdfexko1eVXHQstaeMIRqbKakQC8=",
		sh:     "ptMdBIkDy7SmpGH4BprZ7s9zsgw=",
	},
	{
		name: "legacy as-listed names, Java UTF-16 key order",
		raw: `GET /?%F0%9F%98%80=4&%EE%80%80=5&a=1&B=2&%C3%A9=3 HTTP/1.1
Host: h
X-Ca-Key: k5
X-Ca-Nonce: n5
X-Ca-Timestamp: 1700000000000
x-ca-a: 1
X-Ca-Signature-Headers: X-Ca-Timestamp,x-ca-a,X-Ca-Key,X-Ca-Nonce

`,
		asListed: true,
		want: "GET\n\n\n\n\nX-Ca-Key:k5\nX-Ca-Nonce:n5\nX-Ca-Timestamp:1700000000000\nx-ca-a:1\n" +
			"/?B=2&a=1&é=3&😀=4&\ue000=5",
		sha256: "ZOFdqjMwid0louWN8wtF+9o+uusPYGymALJkk0EHwOw=",
		sh:     "8/m1tBuZSSFReYuhfGLdMugVwS4=",
	},
}

func TestStringToSignVectors(t *testing.T) {
	v := mustVerifier(t, Config{}, nil)
	for _, tc := range vectors {
		t.Run(tc.name, func(t *testing.T) {
			r := AcquireRequest()
			defer ReleaseRequest(r)
			v.LoadFastHTTP(r, parseRaw(t, tc.raw))
			r.HeaderNamesAsListed = tc.asListed
			got := string(AppendStringToSign(nil, &r.Input))
			if got != tc.want {
				t.Fatalf("string to sign\n got %q\nwant %q", got, tc.want)
			}
			sec := NewSecret([]byte("secret-1"))
			for _, c := range []struct {
				alg  Algorithm
				want string
			}{{HmacSHA256, tc.sha256}, {HmacSHA1, tc.sh}} {
				if ref := refMAC(c.alg, "secret-1", tc.want); ref != c.want {
					t.Fatalf("%v: literal %q disagrees with crypto/hmac %q", c.alg, c.want, ref)
				}
				if got := string(sec.AppendSignature(nil, c.alg, []byte(got))); got != c.want {
					t.Errorf("%v signature = %q, want %q", c.alg, got, c.want)
				}
			}
		})
	}
}

func TestStringToSignDuplicateFirstWins(t *testing.T) {
	in := &Input{
		Method: []byte("GET"), Path: []byte("/p"),
		Query: []Param{{[]byte("b"), []byte("2")}, {[]byte("a"), []byte("first")}, {[]byte("a"), []byte("second")}},
		Form:  []Param{{[]byte("b"), []byte("form")}},
	}
	got := string(AppendStringToSign(nil, in))
	if want := "GET\n\n\n\n\n/p?a=first&b=2"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !in.DuplicateKey() {
		t.Fatal("DuplicateKey() = false after repeated keys")
	}
	in.Query, in.Form = in.Query[:2], nil
	AppendStringToSign(nil, in)
	if in.DuplicateKey() {
		t.Fatal("DuplicateKey() stays true after a request without repeats")
	}
}

func TestStringToSignDoesNotReorderCallerSlices(t *testing.T) {
	q := []Param{{[]byte("z"), nil}, {[]byte("a"), nil}}
	hs := []Header{{[]byte("x-ca-z"), nil}, {[]byte("x-ca-a"), nil}}
	in := &Input{Method: []byte("GET"), Query: q, Headers: hs}
	AppendStringToSign(nil, in)
	if string(q[0].Key) != "z" || string(hs[0].Name) != "x-ca-z" {
		t.Fatal("AppendStringToSign reordered the caller's slices")
	}
}

func TestDebugStringToSign(t *testing.T) {
	in := &Input{
		Method:  []byte("GET"),
		Headers: []Header{{[]byte("X-Ca-Key"), []byte("k\tv")}},
		Path:    []byte("/a"),
		Query:   []Param{{[]byte("x"), []byte("1\r\n2\x7f")}},
	}
	got := DebugStringToSign(in)
	if want := "GET#####x-ca-key:k?v#/a?x=1?#2?"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestCompareJava checks the UTF-8 comparison against Java's order computed
// the slow way: UTF-16 code units compared one by one.
func TestCompareJava(t *testing.T) {
	alphabet := []rune{'a', 'B', 'z', 0x7f, 0xe9, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff}
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	sign := func(x int) int { return min(max(x, -1), 1) }
	for range 20000 {
		a, b := gen(), gen()
		want := sign(slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b))))
		if got := sign(compareJava([]byte(a), []byte(b))); got != want {
			t.Fatalf("compareJava(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}
