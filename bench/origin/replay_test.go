package origin

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestParseAnswer(t *testing.T) {
	for _, c := range []struct {
		in           string
		status, size int
		delay        time.Duration
		ok           bool
	}{
		{"200 5120 1500", 200, 5120, 1500 * time.Microsecond, true},
		{" 404  0  0 ", 404, 0, 0, true},
		{"503 1 99999999999", 503, 1, maxDelay, true}, // capped, like ?delay
		{"200 5120", 0, 0, 0, false},
		{"200 5120 1 7", 0, 0, 0, false},
		{"99 1 1", 0, 0, 0, false},
		{"600 1 1", 0, 0, 0, false},
		{"200 -1 1", 0, 0, 0, false},
		{"200 x 1", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		st, size, d, err := ParseAnswer([]byte(c.in))
		if (err == nil) != c.ok || st != c.status || size != c.size || d != c.delay {
			t.Errorf("ParseAnswer(%q) = %d %d %v %v", c.in, st, size, d, err)
		}
	}
	if got := string(AppendAnswer(nil, 201, 70000, 2500*time.Microsecond)); got != "201 70000 2500" {
		t.Errorf("AppendAnswer: %q", got)
	}
}

// TestReplayAnswers: the header steers the answer whatever the path says
// (here /echo, which the plain origin answers with JSON); without it the
// replay origin is the plain one.
func TestReplayAnswers(t *testing.T) {
	o, err := StartReplay("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	do := func(uri, answer string, body []byte) (int, []byte, time.Duration) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(o.URL() + uri)
		if answer != "" {
			req.Header.Set(HeaderAnswer, answer)
		}
		if body != nil {
			req.Header.SetMethod("POST")
			req.SetBody(body)
		}
		start := time.Now()
		if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), append([]byte(nil), resp.Body()...), time.Since(start)
	}
	if st, b, took := do("/echo?user=1", "201 70000 30000", make([]byte, 3<<20)); st != 201 || len(b) != 70000 || took < 30*time.Millisecond {
		t.Errorf("steered: %d, %d bytes, %v", st, len(b), took)
	}
	// Every answer is JSON of exactly the asked size (a composite
	// backend merges its calls' answers as JSON), streamed or not.
	for _, n := range []int{1, 2, 7, 8, 9, 100, 64 << 10, 64<<10 + 1, 200003} {
		st, b, _ := do("/x", "200 "+strconv.Itoa(n)+" 0", nil)
		if st != 200 || len(b) != n || !json.Valid(b) || n >= 2 && b[0] != '{' {
			t.Errorf("%d-byte answer: status %d, %d bytes, valid JSON %v: %.40q", n, st, len(b), json.Valid(b), b)
		}
	}
	if st, b, _ := do("/x", "404 0 0", nil); st != 404 || len(b) != 0 {
		t.Errorf("404: %d %d", st, len(b))
	}
	if st, _, _ := do("/x", "bogus", nil); st != 400 {
		t.Errorf("bad header: %d", st)
	}
	if st, b, _ := do("/echo", "", nil); st != 200 || !strings.Contains(string(b), `"uri":"/echo"`) {
		t.Errorf("plain /echo: %d %s", st, b)
	}
	if o.Requests() != 13 {
		t.Errorf("requests %d", o.Requests())
	}
	if _, err := StartReplay("10.1.2.3:0"); err == nil {
		t.Error("non-loopback address accepted")
	}
}
