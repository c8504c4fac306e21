package casign

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startServer runs a fasthttp server on loopback that answers 200 with the
// consumer name, or the error code plus X-Ca-Error-Message.
func startServer(t *testing.T, v *Verifier) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		ReadTimeout: 5 * time.Second,
		Handler: func(ctx *fasthttp.RequestCtx) {
			r := AcquireRequest()
			defer ReleaseRequest(r)
			cred, err := v.VerifyFastHTTP(r, &ctx.Request, time.Now().UnixNano())
			if err != nil {
				e := err.(*Error)
				if e == ErrBadSignature {
					ctx.Response.Header.SetBytesV(HeaderErrorMessage,
						append(AppendDebugStringToSign([]byte(ErrorMessagePrefix+"`"), &r.Input), '`'))
				}
				ctx.SetStatusCode(e.Status())
				ctx.SetBodyString(e.Code())
				return
			}
			ctx.SetBodyString(cred.Consumer)
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestLoopbackNetHTTP(t *testing.T) {
	base := startServer(t, mustVerifier(t, Config{}, nil))
	client := &http.Client{Timeout: 5 * time.Second}
	cases := []struct {
		method, path, ctype, body string
		sign                      []string
	}{
		{"GET", "/v1/users?limit=10&q=%E6%9D%8E&empty=", "", "", nil},
		{"POST", "/v1/orders?src=web", "application/x-www-form-urlencoded", "item=42&note=a+b", nil},
		{"POST", "/v1/orders", "application/json", `{"item":42}`, []string{"Host"}},
		{"DELETE", "/v1/items/7", "", "", nil},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.body == "" {
			req.Body = http.NoBody
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		req.Header.Set("Accept", "application/json")
		if err := SignRequest(req, "app-1", "secret-1", SignOptions{SignHeaders: tc.sign}); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "alice" {
			t.Fatalf("%s %s: %d %s %s", tc.method, tc.path, resp.StatusCode, body, resp.Header.Get(HeaderErrorMessage))
		}
	}

	// Tampered on the way: the error message carries the server string.
	req, _ := http.NewRequest("GET", base+"/v1/users?limit=10", nil)
	if err := SignRequest(req, "app-1", "secret-1", SignOptions{}); err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = "limit=99"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	msg := resp.Header.Get(HeaderErrorMessage)
	if resp.StatusCode != 401 || !strings.HasPrefix(msg, ErrorMessagePrefix) || !strings.Contains(msg, "#/v1/users?limit=99`") {
		t.Fatalf("tampered: %d %q", resp.StatusCode, msg)
	}
}

func TestLoopbackFastHTTP(t *testing.T) {
	base := startServer(t, mustVerifier(t, Config{}, nil))
	c := &fasthttp.Client{}
	for _, body := range []string{"", "raw bytes", "a=1&b=%20"} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(base + "/v1/x?k=v&u=%C3%A9")
		if body != "" {
			req.Header.SetMethod("PUT")
			req.SetBodyString(body)
		}
		if strings.Contains(body, "=") {
			req.Header.SetContentType("application/x-www-form-urlencoded")
		}
		if err := SignFastHTTP(req, "app-2", "new-secret", SignOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 || string(resp.Body()) != "bob" {
			t.Fatalf("body %q: %d %s %s", body, resp.StatusCode(), resp.Body(), resp.Header.Peek(HeaderErrorMessage))
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestLoopbackCurl runs CurlCommand's output through a real shell and curl,
// which checks the quoting and that curl sends what was signed.
func TestLoopbackCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_EXTERNAL") == "1" {
			t.Fatal("curl not installed")
		}
		t.Skip("curl not installed")
	}
	base := startServer(t, mustVerifier(t, Config{}, nil))
	cases := []*Outgoing{
		{Method: "GET", URL: base + "/v1/users?q=it%27s&x=a+b&empty="},
		{Method: "POST", URL: base + "/v1/orders", Header: http.Header{"Content-Type": {"application/json"}},
			Body: []byte(`{"note":"it's $HOME \"quoted\" ` + "`x`" + `"}`)},
		{Method: "POST", URL: base + "/v1/form", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body: []byte("name=O%27Brien&x=%24y")},
		{Method: "PUT", URL: base + "/v1/raw", Body: []byte("no content type"), Header: http.Header{"X-Empty": {""}}},
	}
	for _, out := range cases {
		opts := SignOptions{}
		if _, ok := out.Header["X-Empty"]; ok {
			opts.SignHeaders = []string{"X-Empty"}
		}
		s, err := Sign(out, "app-1", "secret-1", opts)
		if err != nil {
			t.Fatal(err)
		}
		cmdline, err := CurlCommand(out.Method, out.URL, s.Header, out.Body, CurlOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c", cmdline+" -s -i")
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		err = cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", cmdline, err)
		}
		if !strings.HasPrefix(stdout.String(), "HTTP/1.1 200") || !strings.HasSuffix(stdout.String(), "alice") {
			t.Fatalf("curl command:\n%s\nresponse:\n%s", cmdline, stdout.String())
		}
	}
}
