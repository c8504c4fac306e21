package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawServer is a loopback server that records every request's bytes
// exactly as they arrived and answers with answer(request number).
type rawServer struct {
	ln     net.Listener
	mu     sync.Mutex
	reqs   [][]byte
	answer func(n int) string
}

func startRawServer(t *testing.T, answer func(n int) string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, answer: answer}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// serve reads requests framed by Content-Length (the generator sends no
// chunked bodies) and answers each.
func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var raw []byte
		clen := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			raw = append(raw, line...)
			if k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(":")); ok && bytes.EqualFold(k, []byte("content-length")) {
				clen, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
			if len(line) <= 2 {
				break
			}
		}
		body := make([]byte, clen)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		raw = append(raw, body...)
		s.mu.Lock()
		s.reqs = append(s.reqs, raw)
		n := len(s.reqs)
		s.mu.Unlock()
		a := s.answer(n)
		if a == "" {
			continue // never answer: the client times out
		}
		if _, err := c.Write([]byte(a)); err != nil {
			return
		}
		if bytes.Contains([]byte(a), []byte("Connection: close")) {
			return
		}
	}
}

func (s *rawServer) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.reqs...)
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestOpenLoopWireMatchesHostClient checks that the open loop puts the same
// bytes on the wire as the closed loop's fasthttp client, for the plain
// configuration, a signed one and a request mix: the targets see the same
// requests whichever loop drives them.
func TestOpenLoopWireMatchesHostClient(t *testing.T) {
	cfgs := map[string]LoadConfig{
		"paths": {Method: "POST", Paths: []string{"/a?x=1", "/b"}, Body: []byte(`{"k":"v"}`), Host: "api.example",
			Headers: []Header{{Name: "x-api-key", Value: "k1"}, {Name: "Accept", Value: "*/*"}}},
		"signed": {Paths: []string{"/s/a", "/s/b"}, Headers: []Header{{Name: "x-app", Value: "bench"}},
			Sign: func(req *fasthttp.Request, seq uint64) error {
				req.Header.Set("x-ca-signature", "sig-"+strconv.FormatUint(seq, 10)+"-"+string(req.URI().Path()))
				req.Header.Set("Date", "Sun, 06 Dec 2026 08:00:00 GMT")
				return nil
			}},
		"mix": {Requests: []RequestSpec{
			{URI: "/get?q=1", Headers: []Header{{Name: "x-lower", Value: "1"}}},
			{Method: "PUT", URI: "/put", Body: []byte("body"), Headers: []Header{{Name: "Content-Type", Value: "text/plain"}}},
			{Method: "HEAD", URI: "/head"},
		}},
	}
	for name, base := range cfgs {
		var got [2][][]byte
		for i, mode := range []LoadMode{ClosedLoop, OpenLoop} {
			srv := startRawServer(t, func(int) string { return okAnswer })
			cfg := base
			cfg.Addr, cfg.Mode, cfg.Rate, cfg.Duration, cfg.Connections = srv.ln.Addr().String(), mode, 1000, 5*time.Second, 1
			cfg.MaxRequests = 3
			if cfg.Host == "" {
				cfg.Host = "h.example" // the port differs between the two servers
			}
			res, err := RunLoad(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Completed != 3 || res.Errors != 0 {
				t.Fatalf("%s %v: completed %d errors %v", name, mode, res.Completed, res.ErrorKinds)
			}
			got[i] = srv.requests()
		}
		for k := range got[0] {
			if !bytes.Equal(got[0][k], got[1][k]) {
				t.Errorf("%s request %d:\nfasthttp client %q\nopen loop       %q", name, k, got[0][k], got[1][k])
			}
		}
	}
}

// TestOpenLoopSignerHook checks that a Signer sees every sequence number
// once in open loop, that what it sets (headers, method, URI, body) goes out,
// and that a refusal counts as error kind "sign" without a send.
func TestOpenLoopSignerHook(t *testing.T) {
	srv := startRawServer(t, func(int) string { return okAnswer })
	var calls, seqSum atomic.Uint64
	sign := func(req *fasthttp.Request, seq uint64) error {
		calls.Add(1)
		seqSum.Add(seq)
		switch seq % 10 {
		case 9:
			return errors.New("no key")
		case 3:
			req.Header.SetMethod("PATCH")
			req.SetRequestURI("/signed/" + strconv.FormatUint(seq, 10))
			req.SetBodyString("payload")
		}
		req.Header.Set("Authorization", "Bench "+strconv.FormatUint(seq, 10))
		return nil
	}
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: srv.ln.Addr().String(), Mode: OpenLoop, Rate: 2000, Duration: 5 * time.Second, MaxRequests: 100,
		Connections: 4, Sign: sign, Headers: []Header{{Name: "X-Bench", Value: "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 100 || seqSum.Load() != 99*100/2 {
		t.Errorf("signer called %d times, seq sum %d: want each seq 0..99 once", calls.Load(), seqSum.Load())
	}
	reqs := srv.requests()
	if res.ErrorKinds["sign"] != 10 || res.Completed != 90 || len(reqs) != 90 || res.Sent != 100 {
		t.Errorf("sign errors %v completed %d sent %d server %d, want 10 / 90 / 100 / 90", res.ErrorKinds, res.Completed, res.Sent, len(reqs))
	}
	patched := 0
	for _, r := range reqs {
		if !bytes.Contains(r, []byte("Authorization: Bench ")) || !bytes.Contains(r, []byte("X-Bench: 1")) {
			t.Errorf("request without the signer's or the config's header: %q", r)
		}
		if bytes.HasPrefix(r, []byte("PATCH /signed/")) {
			patched++
			if !bytes.HasSuffix(r, []byte("\r\n\r\npayload")) {
				t.Errorf("signed body lost: %q", r)
			}
		} else if !bytes.HasPrefix(r, []byte("GET / HTTP/1.1\r\n")) || bytes.Contains(r, []byte("payload")) {
			// A signer's change to one request must not leak into the next.
			t.Errorf("unsigned request changed: %q", r)
		}
	}
	if patched != 10 {
		t.Errorf("%d requests rewritten by the signer reached the server, want 10", patched)
	}
}

// TestOpenLoopRequestMix checks LoadConfig.Requests in open loop: shares,
// per-spec expected status, and spec headers that do not leak.
func TestOpenLoopRequestMix(t *testing.T) {
	o := startTestOrigin(t, 0)
	var mu sync.Mutex
	seen := map[string]int{}
	o.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		k := string(ctx.Method()) + " " + string(ctx.RequestURI()) + " key=" + string(ctx.Request.Header.Peek("X-Key")) + " body=" + string(ctx.PostBody())
		mu.Lock()
		seen[k]++
		mu.Unlock()
		if string(ctx.Path()) == "/teapot" {
			ctx.SetStatusCode(418)
		}
		ctx.SetBodyString("answer")
	}
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Mode: OpenLoop, Rate: 4000, Duration: 5 * time.Second, MaxRequests: 400, Connections: 8,
		Requests: []RequestSpec{
			{URI: "/a?x=1", Headers: []Header{{Name: "X-Key", Value: "k1"}}},
			{Method: "POST", URI: "/b", Body: []byte(`{"a":1}`)},
			{Method: "HEAD", URI: "/a?x=1", Headers: []Header{{Name: "X-Key", Value: "k1"}}},
			{URI: "/teapot", ExpectStatus: -1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"GET /a?x=1 key=k1 body=":   100,
		"HEAD /a?x=1 key=k1 body=":  100,
		`POST /b key= body={"a":1}`: 100,
		"GET /teapot key= body=":    100,
	}
	mu.Lock()
	defer mu.Unlock()
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("origin saw %q %d times, want %d (all: %v)", k, seen[k], n, seen)
		}
	}
	if res.Errors != 0 || res.Status["418"] != 100 || res.Status["200"] != 300 || res.Completed != 400 {
		t.Errorf("completed %d errors %d %v status %v", res.Completed, res.Errors, res.ErrorKinds, res.Status)
	}
}

// TestOpenLoopFramingAndErrors drives the open loop through answers framed
// every way (length, chunked, close-delimited, Connection: close), a
// timeout and a refused port, and checks what is counted.
func TestOpenLoopFramingAndErrors(t *testing.T) {
	answers := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", // wrong length: error kind body
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcd",
	}
	srv := startRawServer(t, func(n int) string { return answers[(n-1)%len(answers)] })
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: srv.ln.Addr().String(), Mode: OpenLoop, Rate: 1000, Duration: 5 * time.Second, MaxRequests: 100,
		Connections: 2, ExpectBodyBytes: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != 100 || res.Errors != 20 || res.ErrorKinds["body"] != 20 {
		t.Errorf("completed %d errors %d %v, want 100 completed and 20 body errors", res.Completed, res.Errors, res.ErrorKinds)
	}
	// A server that never answers: every request times out.
	mute := startRawServer(t, func(int) string { return "" })
	start := time.Now()
	res, err = RunLoad(context.Background(), LoadConfig{
		Addr: mute.ln.Addr().String(), Mode: OpenLoop, Rate: 100, Duration: 100 * time.Millisecond,
		Connections: 20, Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != res.Sent || res.ErrorKinds["timeout"] != res.Sent || res.Sent < 9 {
		t.Errorf("sent %d errors %v, want all timeouts", res.Sent, res.ErrorKinds)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("timed-out run took %v", el)
	}
	res, err = RunLoad(context.Background(), LoadConfig{
		Addr: closedPort(t), Mode: OpenLoop, Rate: 1000, Duration: time.Second, MaxRequests: 20, Connections: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 20 || res.ErrorKinds["refused"] != 20 || res.Completed != 0 {
		t.Errorf("errors %d kinds %v completed %d, want 20 refused", res.Errors, res.ErrorKinds, res.Completed)
	}
}

// TestOpenLoopEarlyAnswer: a server that answers 413 and closes without
// reading a large body (as a gateway's size limit does) ends each request
// one way or the other, answered or reset, and the run accounts for all.
func TestOpenLoopEarlyAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil || len(line) <= 2 {
						break
					}
				}
				c.Write([]byte("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: ln.Addr().String(), Mode: OpenLoop, Rate: 200, Duration: 5 * time.Second, MaxRequests: 40, Connections: 4,
		Method: "POST", Body: make([]byte, 4<<20), ExpectStatus: 413, Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 40 || res.Completed+res.Errors != 40 || res.Completed == 0 || res.ErrorKinds["timeout"] != 0 {
		t.Errorf("sent %d completed %d errors %d %v status %v", res.Sent, res.Completed, res.Errors, res.ErrorKinds, res.Status)
	}
	t.Logf("completed %d (status %v), errors %v", res.Completed, res.Status, res.ErrorKinds)
}
