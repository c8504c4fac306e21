package main

// sluice sign, checked the way an operator uses it: its output is sent to a
// real gateway (proxy.Server on loopback with an HMAC-protected API in front
// of the bench origin's /echo), which must accept it.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/sluicegw/sluice/proxy"
)

const (
	signAppKey = "cli-app"
	// signSecret must never appear in any output.
	signSecret = "Zq9-very-secret-app-secret-7Hx"
)

// startSignGateway serves an HMAC-protected /echo on loopback and returns
// its base URL.
func startSignGateway(t *testing.T) string {
	t.Helper()
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	cfg := `
[[consumers]]
name = "cli"
[[consumers.apps]]
app_key = "` + signAppKey + `"
app_secrets = ["` + signSecret + `"]
[[backends]]
name = "origin"
targets = [{ url = "` + o.URL() + `" }]
[[groups]]
name = "t"
[[groups.apis]]
name = "echo"
path = "/echo"
backend = "origin"
[groups.apis.auth]
modes = ["hmac"]
debug_signature = true
[[groups.apis]]
name = "echo-sha1"
path = "/sha1"
backend = "origin"
backend_path = "/echo"
[groups.apis.auth]
modes = ["hmac"]
hmac = { allow_hmac_sha1 = true }
`
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := proxy.New(proxy.Options{})
	if _, err := proxy.NewReloader(srv, proxy.Source{Name: path, Path: path}).Reload(); err != nil {
		t.Fatalf("config rejected: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("gateway not ready within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "http://" + ln.Addr().String()
}

// runSign runs cmdSign in process.
func runSign(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = cmdSign(args, &out, &errb)
	return out.String(), errb.String(), code
}

func noSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, signSecret) {
			t.Fatalf("output reveals the secret: %q", o)
		}
	}
}

// sendSigned sends method/url/body with the "Name: value" lines of
// `sluice sign -headers` and decodes the echo (or returns the raw answer).
func sendSigned(t *testing.T, method, url string, body []byte, headerLines string) (int, origin.Echo, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for _, line := range strings.Split(strings.TrimSuffix(headerLines, "\n"), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("not a header line: %q", line)
		}
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Add(name, value)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e origin.Echo
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("not an echo: %s", raw)
		}
	}
	return resp.StatusCode, e, resp.Header, string(raw)
}

func TestSignHeadersThroughGateway(t *testing.T) {
	base := startSignGateway(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(signSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bodyFile := filepath.Join(dir, "body.bin")
	fileBody := []byte("binary\x00body\nwith\r\nbytes")
	if err := os.WriteFile(bodyFile, fileBody, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_SIGN_TEST_SECRET", signSecret)

	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		args   []string
	}{
		{"GET with query, inline secret", "GET", "/echo?b=2&a=1&empty=&sp=a%20b", nil, []string{"-secret", signSecret}},
		{"secret from env", "GET", "/echo", nil, []string{"-secret-env", "SLUICE_SIGN_TEST_SECRET"}},
		{"secret from file", "DELETE", "/echo?id=7", nil, []string{"-secret-file", secretFile, "-method", "delete"}},
		{"JSON body", "POST", "/echo", []byte(`{"amount":10}`),
			[]string{"-secret-env", "SLUICE_SIGN_TEST_SECRET", "-method", "POST", "-data", `{"amount":10}`, "-content-type", "application/json"}},
		{"form body", "PUT", "/echo?x=1", []byte("to=bob&amount=10"),
			[]string{"-secret-env", "SLUICE_SIGN_TEST_SECRET", "-method", "PUT", "-data", "to=bob&amount=10", "-content-type", "application/x-www-form-urlencoded"}},
		{"body from file, no content type", "POST", "/echo", fileBody,
			[]string{"-secret-env", "SLUICE_SIGN_TEST_SECRET", "-method", "POST", "-data-file", bodyFile}},
		{"signed extra headers", "GET", "/echo", nil,
			[]string{"-secret-env", "SLUICE_SIGN_TEST_SECRET", "-H", "X-Tenant: acme", "-H", "Accept: application/json",
				"-H", "Date: Mon, 02 Jan 2006 15:04:05 GMT", "-sign-headers", "X-Tenant,Host"}},
		{"HmacSHA1", "GET", "/sha1", nil, []string{"-secret-env", "SLUICE_SIGN_TEST_SECRET", "-sha1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-key", signAppKey, "-url", base + c.path, "-headers"}, c.args...)
			out, errOut, code := runSign(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			noSecret(t, out, errOut)
			st, e, h, raw := sendSigned(t, c.method, base+c.path, c.body, out)
			if st != 200 {
				t.Fatalf("gateway answered %d %s\nX-Ca-Error-Message: %s\nsigned headers:\n%s", st, raw, h.Get("X-Ca-Error-Message"), out)
			}
			if e.Headers["X-Consumer-Name"] != "cli" || e.Body != string(c.body) || e.Method != c.method {
				t.Fatalf("origin saw %+v", e)
			}
			if _, ok := e.Headers["X-Ca-Signature"]; ok {
				t.Fatal("signature forwarded")
			}
		})
	}

	t.Run("the gateway honours what was signed", func(t *testing.T) {
		out, _, code := runSign("-key", signAppKey, "-secret", signSecret, "-url", base+"/echo?a=1", "-headers")
		if code != 0 {
			t.Fatal(code)
		}
		st, _, h, _ := sendSigned(t, "GET", base+"/echo?a=2", nil, out)
		if st != 401 || !strings.HasPrefix(h.Get("X-Ca-Error-Message"), casign.ErrorMessagePrefix) {
			t.Fatalf("tampered query: %d %q", st, h.Get("X-Ca-Error-Message"))
		}
		old := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)
		out, _, _ = runSign("-key", signAppKey, "-secret", signSecret, "-url", base+"/echo", "-headers", "-timestamp", old)
		if st, _, _, raw := sendSigned(t, "GET", base+"/echo", nil, out); st != 401 || !strings.Contains(raw, "StaleTimestamp") {
			t.Fatalf("-timestamp an hour ago: %d %s", st, raw)
		}
		out, _, _ = runSign("-key", signAppKey, "-secret", "wrong-secret-0123456789", "-url", base+"/echo", "-headers")
		if st, _, _, raw := sendSigned(t, "GET", base+"/echo", nil, out); st != 401 || !strings.Contains(raw, "BadSignature") {
			t.Fatalf("wrong secret: %d %s", st, raw)
		}
	})
}

// TestSignCurlThroughGateway runs the printed curl command in a shell.
func TestSignCurlThroughGateway(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
			t.Fatal("curl is required")
		}
		t.Skip("curl not installed")
	}
	base := startSignGateway(t)
	bodyFile := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(bodyFile, []byte("@not-a-file\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_SIGN_TEST_SECRET", signSecret)
	cases := []struct {
		name     string
		args     []string
		wantBody string
	}{
		{"GET", []string{"-url", base + "/echo?q=it's&b=%2F"}, ""},
		{"HEAD", []string{"-url", base + "/echo", "-method", "HEAD"}, ""},
		{"JSON", []string{"-url", base + "/echo", "-method", "POST", "-data", `{"who":"o'brien $HOME"}`, "-content-type", "application/json"}, `{"who":"o'brien $HOME"}`},
		{"raw body", []string{"-url", base + "/echo", "-method", "PATCH", "-data", "plain text"}, "plain text"},
		{"body file", []string{"-url", base + "/echo", "-method", "POST", "-data-file", bodyFile}, "@not-a-file\x00"},
		{"signed header with quotes", []string{"-url", base + "/echo", "-H", `X-Note: it's "quoted"`, "-sign-headers", "x-note"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-key", signAppKey, "-secret-env", "SLUICE_SIGN_TEST_SECRET"}, c.args...)
			if c.name != "GET" {
				args = append(args, "-curl")
			}
			out, errOut, code := runSign(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			noSecret(t, out, errOut)
			if !strings.HasPrefix(out, "curl ") || strings.Count(out, "\n") != 1 {
				t.Fatalf("not one curl command line: %q", out)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", strings.TrimSuffix(out, "\n")+` -sS -D "$SIGN_HDR_FILE"`)
			hdrFile := filepath.Join(t.TempDir(), "headers")
			cmd.Env = append(os.Environ(), "SIGN_HDR_FILE="+hdrFile)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("curl: %v: %s\n%s", err, stderr.String(), out)
			}
			respHeaders, _ := os.ReadFile(hdrFile)
			if !bytes.HasPrefix(respHeaders, []byte("HTTP/1.1 200")) {
				t.Fatalf("gateway answered:\n%s%s\ncommand: %s", respHeaders, stdout.String(), out)
			}
			if c.name == "HEAD" {
				return
			}
			var e origin.Echo
			if err := json.Unmarshal(stdout.Bytes(), &e); err != nil {
				t.Fatalf("not an echo: %s", stdout.String())
			}
			if e.Headers["X-Consumer-Name"] != "cli" || e.Body != c.wantBody {
				t.Fatalf("origin saw %+v", e)
			}
		})
	}
}

func TestSignReproducible(t *testing.T) {
	args := []string{"-key", signAppKey, "-secret", signSecret, "-url", "http://api.example.com/v1/orders?b=2&a=1",
		"-method", "POST", "-data", `{"n":1}`, "-content-type", "application/json", "-H", "X-Tenant: acme",
		"-sign-headers", "x-tenant", "-nonce", "6b1c1e5e-0000-4000-8000-000000000001", "-timestamp", "1700000000000", "-headers"}
	out1, _, code1 := runSign(args...)
	out2, _, code2 := runSign(args...)
	if code1 != 0 || code2 != 0 || out1 != out2 {
		t.Fatalf("not reproducible: %d %d\n%s\n%s", code1, code2, out1, out2)
	}
	// The same request signed through the library.
	s, err := casign.Sign(&casign.Outgoing{Method: "POST", URL: "http://api.example.com/v1/orders?b=2&a=1",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Tenant": {"acme"}}, Body: []byte(`{"n":1}`)},
		signAppKey, signSecret, casign.SignOptions{SignHeaders: []string{"x-tenant"}, Nonce: "6b1c1e5e-0000-4000-8000-000000000001",
			Time: time.UnixMilli(1700000000000)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"X-Ca-Signature: " + s.Header.Get("X-Ca-Signature") + "\n",
		"X-Ca-Signature-Headers: x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp,x-tenant\n",
		"X-Ca-Timestamp: 1700000000000\n",
		"X-Ca-Nonce: 6b1c1e5e-0000-4000-8000-000000000001\n",
		"Content-Md5: " + s.Header.Get("Content-Md5") + "\n",
		"X-Tenant: acme\n",
		"Content-Type: application/json\n",
	} {
		if !strings.Contains(out1, want) {
			t.Fatalf("output lacks %q:\n%s", want, out1)
		}
	}
	// -sha1 changes the algorithm, and so the signature.
	out3, _, _ := runSign(append(args, "-sha1")...)
	if !strings.Contains(out3, "X-Ca-Signature-Method: HmacSHA1\n") || out3 == out1 {
		t.Fatalf("-sha1 output:\n%s", out3)
	}
	// Default output is a curl command holding the same signature.
	curl, _, code := runSign(args[:len(args)-1]...)
	if code != 0 || !strings.Contains(curl, "'X-Ca-Signature: "+s.Header.Get("X-Ca-Signature")+"'") ||
		!strings.Contains(curl, "--data-binary '{\"n\":1}'") || !strings.HasSuffix(curl, " 'http://api.example.com/v1/orders?b=2&a=1'\n") {
		t.Fatalf("curl output: %s", curl)
	}
}

func TestSignBadFlags(t *testing.T) {
	ok := []string{"-key", signAppKey, "-secret", signSecret, "-url", "http://127.0.0.1:1/p"}
	with := func(extra ...string) []string { return append(append([]string(nil), ok...), extra...) }
	cases := []struct {
		name string
		args []string
	}{
		{"no arguments", nil},
		{"unknown flag", with("-bogus")},
		{"positional argument", with("extra")},
		{"no key", []string{"-secret", signSecret, "-url", "http://h/p"}},
		{"key with a space", []string{"-key", "a b", "-secret", signSecret, "-url", "http://h/p"}},
		{"no secret", []string{"-key", signAppKey, "-url", "http://h/p"}},
		{"two secrets", with("-secret-env", "X")},
		{"empty secret", []string{"-key", signAppKey, "-secret", "", "-url", "http://h/p"}},
		{"no url", []string{"-key", signAppKey, "-secret", signSecret}},
		{"relative url", []string{"-key", signAppKey, "-secret", signSecret, "-url", "/p"}},
		{"ftp url", []string{"-key", signAppKey, "-secret", signSecret, "-url", "ftp://h/p"}},
		{"url without host", []string{"-key", signAppKey, "-secret", signSecret, "-url", "http:///p"}},
		{"url with a space", []string{"-key", signAppKey, "-secret", signSecret, "-url", "http://h/a b"}},
		{"url with a fragment", []string{"-key", signAppKey, "-secret", signSecret, "-url", "http://h/a#x"}},
		{"bad method", with("-method", "GE T")},
		{"header without colon", with("-H", "X-Foo")},
		{"header with a bad name", with("-H", "X Foo: 1")},
		{"signature header by hand", with("-H", "X-Ca-Nonce: 1")},
		{"content type twice", with("-H", "Content-Type: a/b", "-content-type", "c/d")},
		{"data and data-file", with("-data", "x", "-data-file", "/dev/null")},
		{"bad sign-headers name", with("-sign-headers", "a b")},
		{"bad timestamp", with("-timestamp", "yesterday")},
		{"negative timestamp", with("-timestamp", "-5")},
		{"bad nonce", with("-nonce", "a b")},
		{"curl and headers", with("-curl", "-headers")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runSign(c.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "usage: sluice sign") || !strings.Contains(errOut, "sluice sign: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			noSecret(t, out, errOut)
		})
	}
	if out, errOut, code := runSign("-h"); code != 0 || out != "" || !strings.Contains(errOut, "usage: sluice sign") {
		t.Fatalf("-h: exit %d %q %q", code, out, errOut)
	}
}

func TestSignRuntimeErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name, want string
		args       []string
	}{
		{"unset env", "SLUICE_SIGN_UNSET_VAR", []string{"-secret-env", "SLUICE_SIGN_UNSET_VAR"}},
		{"missing secret file", missing, []string{"-secret-file", missing}},
		{"missing body file", missing, []string{"-secret", signSecret, "-data-file", missing}},
		{"body curl cannot carry", "-data-file", []string{"-secret", signSecret, "-data", "@/etc/passwd"}},
		{"sign-headers not set", "X-Absent", []string{"-secret", signSecret, "-sign-headers", "X-Absent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-key", signAppKey, "-url", "http://127.0.0.1:1/p"}, c.args...)
			out, errOut, code := runSign(args...)
			if code != 1 || out != "" || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 naming %q", code, out, errOut, c.want)
			}
			noSecret(t, out, errOut)
		})
	}
}

// FuzzSignArgs feeds arbitrary header, URL and body text to sluice sign:
// it must never panic, exit 0, 1 or 2, and, when it signs, print either one
// curl line or well-formed "Name: value" lines, never the secret.
func FuzzSignArgs(f *testing.F) {
	f.Add("X-Tenant: acme", "http://h/p?a=1&b=%20", "body", "x-tenant")
	f.Add("Host: api.example.com", "https://h:8443/", "", "host")
	f.Add("X: it's \"q\"", "http://h/a'b", "@file", "")
	f.Add("Bad\r\nX: y", "http://h/\x7f", "\x00", ",,")
	f.Add(": v", "http://", "a=1&a=2", "X-Ca-Key")
	f.Fuzz(func(t *testing.T, header, url, body, signHeaders string) {
		for _, mode := range []string{"-headers", "-curl"} {
			args := []string{"-key", signAppKey, "-secret", signSecret, "-url", url, "-H", header,
				"-data", body, "-sign-headers", signHeaders, "-nonce", "n-1", "-timestamp", "1700000000000", mode}
			out, errOut, code := runSign(args...)
			if strings.Contains(out+errOut, signSecret) {
				t.Fatalf("secret printed: %q %q", out, errOut)
			}
			switch code {
			case 1, 2:
				if out != "" {
					t.Fatalf("exit %d with output %q", code, out)
				}
				continue
			case 0:
			default:
				t.Fatalf("exit %d", code)
			}
			if mode == "-curl" {
				if !strings.HasPrefix(out, "curl ") || strings.Count(out, "\n") != 1 {
					t.Fatalf("not one curl line: %q", out)
				}
				continue
			}
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				name, _, ok := strings.Cut(line, ": ")
				if !ok || !validToken(name) || strings.ContainsAny(line, "\r\x00") {
					t.Fatalf("bad header line %q in %q", line, out)
				}
			}
		}
	})
}
