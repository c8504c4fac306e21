package origin

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestStartClose(t *testing.T) {
	// Close right after Start must not hang (fasthttp's Shutdown before Serve did).
	for i := 0; i < 50; i++ {
		o, err := Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = o.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Close hung on iteration %d", i)
		}
	}
	if _, err := Start("10.1.2.3:0"); err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("non-loopback address accepted: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	o, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	st, body, err := fasthttp.Get(nil, o.URL()+"/x?size=70000&status=201")
	if err != nil || st != 201 || len(body) != 70000 || body[0] != 'a' {
		t.Fatalf("size/status: %d %d %v", st, len(body), err)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.Header.SetMethod("POST")
	req.SetRequestURI(o.URL() + "/sink")
	req.SetBodyString("hello")
	if err := fasthttp.Do(req, resp); err != nil || !strings.Contains(string(resp.Body()), `"bytes":5,"md5":"5d41402abc4b2a76b9719d911017c592"`) {
		t.Fatalf("sink: %v %s", err, resp.Body())
	}
	if _, body, _ := fasthttp.Get(nil, o.URL()+"/echo?q=1"); !strings.Contains(string(body), `"uri":"/echo?q=1"`) {
		t.Fatalf("echo: %s", body)
	}
	if o.Requests() != 3 {
		t.Fatalf("requests %d", o.Requests())
	}
}
