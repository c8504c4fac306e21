package proxy

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/ratelimit"
)

// TestUploadTimeNotChargedToTheAPITimeout: a request without a body takes
// its send time from the request's start (one clock read per request, issue
// 16), but an API that reads the body (here: a form parameter) may wait for
// a streamed upload longer than its timeout before it forwards: the clock is
// read again after the body, so the timeout covers the upstream only.
// Without the second read this answers 504.
func TestUploadTimeNotChargedToTheAPITimeout(t *testing.T) {
	o := startBodyOrigin(t)
	cfg := strings.Replace(scriptedBackendConfig(o.addr, uploadServer), `backend = "scripted"`, `backend = "scripted"
timeout = "300ms"
[groups.apis.params]
[[groups.apis.params.params]]
name = "f"
in = "form"`, 1)
	g := startGateway(t, cfg)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Chunked: fasthttp hands a chunked body over as a stream, and the
	// handler starts before it has arrived.
	body := "f=" + strings.Repeat("a", 4998)
	_, _ = io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n9c4\r\n"+body[:2500]+"\r\n")
	time.Sleep(500 * time.Millisecond) // longer than the API's timeout, shorter than read_timeout (1s)
	_, _ = io.WriteString(c, "9c4\r\n"+body[2500:]+"\r\n0\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	wantStatusLine(t, string(b), "HTTP/1.1 200")
	if got := o.bodies(); got != body+"#" {
		t.Errorf("origin got %d bytes, want the whole body once", len(got))
	}
}

// TestTimeAtIsNow: a time built from a clock reading is that moment, with a
// monotonic reading (deadlines from it count on the monotonic clock).
func TestTimeAtIsNow(t *testing.T) {
	before := time.Now()
	at := ratelimit.TimeAt(ratelimit.Nanotime())
	after := time.Now()
	if at.Before(before.Add(-time.Millisecond)) || at.After(after.Add(time.Millisecond)) {
		t.Fatalf("TimeAt(Nanotime()) = %v, want between %v and %v", at, before, after)
	}
	if s := at.String(); !strings.Contains(s, "m=+") {
		t.Errorf("TimeAt lost the monotonic reading: %s", s)
	}
}
