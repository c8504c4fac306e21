package accesslog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// collector is a loopback HTTP server that records request ids it got.
type collector struct {
	mu       sync.Mutex
	ids      map[string]int
	requests int
	failNext int    // answer this many requests with failStatus
	status   int    // failStatus
	bulkFail string // request id whose bulk item is reported failed
	t        *testing.T
}

func newCollector(t *testing.T) *collector {
	return &collector{ids: map[string]int{}, t: t}
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-ndjson" {
		c.t.Errorf("got %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	if c.failNext > 0 {
		c.failNext--
		w.WriteHeader(c.status)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			c.t.Errorf("gzip: %v", err)
			return
		}
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bulk := strings.HasSuffix(r.URL.Path, "/_bulk")
	var items []string
	for sc.Scan() {
		if bulk {
			var action map[string]map[string]string
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 || action["index"] == nil {
				c.t.Errorf("bad action line %q", sc.Bytes())
			}
			if idx := r.URL.Query().Get("want_index"); idx != "" && action["index"]["_index"] != idx {
				c.t.Errorf("action %q, want index %q", sc.Bytes(), idx)
			}
			if !sc.Scan() {
				c.t.Error("action line without document")
				break
			}
		}
		ln := decodeLine(c.t, sc.Bytes())
		c.ids[ln.RequestID]++
		items = append(items, ln.RequestID)
	}
	if err := sc.Err(); err != nil {
		c.t.Errorf("reading body: %v", err)
	}
	if bulk {
		var resp bytes.Buffer
		resp.WriteString(`{"took":1,"errors":` + boolStr(c.bulkFail != "") + `,"items":[`)
		for i, id := range items {
			if i > 0 {
				resp.WriteByte(',')
			}
			st := "201"
			if id == c.bulkFail {
				st = "400"
				c.ids[id]-- // rejected: not stored
			}
			resp.WriteString(`{"index":{"_index":"x","status":` + st + `}}`)
		}
		resp.WriteString("]}")
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp.Bytes())
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (c *collector) count() (requests, ids int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.ids {
		ids += n
	}
	return c.requests, ids
}

func serve(t *testing.T, ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func httpLogger(t *testing.T, sc SinkConfig) *Logger {
	t.Helper()
	sc.Type = "http"
	if sc.RetryBackoff == 0 {
		sc.RetryBackoff = Duration(5 * time.Millisecond)
		sc.RetryMaxBackoff = Duration(20 * time.Millisecond)
	}
	l, err := New(Config{FlushInterval: Duration(10 * time.Millisecond), BatchSize: 16 << 10, Sinks: []SinkConfig{sc}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHTTPNDJSON(t *testing.T) {
	c := newCollector(t)
	ln := listen(t)
	serve(t, ln, c)
	l := httpLogger(t, SinkConfig{URL: "http://" + ln.Addr().String() + "/ingest", Headers: map[string]string{"X-Token": "t"}})
	for i := 0; i < 300; i++ {
		put(l, 200, i)
	}
	shutdown(t, l)
	checkAccounting(t, l.Stats(), 300)
	if _, n := c.count(); n != 300 || c.ids["req-299"] != 1 {
		t.Fatalf("server got %d records", n)
	}
}

func TestHTTPBulkGzip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		c := newCollector(t)
		c.bulkFail = "req-7"
		ln := listen(t)
		serve(t, ln, c)
		l := httpLogger(t, SinkConfig{URL: "http://" + ln.Addr().String() + "/_bulk?want_index=sluice-access",
			Format: "bulk", Index: "sluice-access", Gzip: gz})
		for i := 0; i < 200; i++ {
			put(l, 200, i)
		}
		shutdown(t, l)
		st := l.Stats()
		checkAccounting(t, st, 200)
		if st.Sinks[0].Written != 199 || st.Sinks[0].Dropped != 1 {
			t.Fatalf("gzip=%v: bulk item failure not counted: %+v", gz, st.Sinks[0])
		}
		if _, n := c.count(); n != 199 {
			t.Fatalf("gzip=%v: server stored %d", gz, n)
		}
	}
}

func TestHTTPStatusHandling(t *testing.T) {
	c := newCollector(t)
	c.failNext, c.status = 2, http.StatusServiceUnavailable // retried
	ln := listen(t)
	serve(t, ln, c)
	url := "http://" + ln.Addr().String() + "/ingest"
	l := httpLogger(t, SinkConfig{URL: url})
	put(l, 200, 1)
	shutdown(t, l)
	if req, n := c.count(); req != 3 || n != 1 || l.Stats().Sinks[0].Errors != 2 {
		t.Fatalf("503 retry: %d requests, %d stored, %+v", req, n, l.Stats().Sinks[0])
	}

	c.failNext, c.status = 5, http.StatusBadRequest // not retried
	l = httpLogger(t, SinkConfig{URL: url})
	put(l, 200, 2)
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, 1)
	if req, _ := c.count(); req != 4 || st.Sinks[0].Dropped != 1 || !strings.Contains(st.Sinks[0].LastError, "400") {
		t.Fatalf("400: %d requests, %+v", req, st.Sinks[0])
	}

	zero := 0
	c.failNext, c.status = 5, http.StatusTooManyRequests
	l = httpLogger(t, SinkConfig{URL: url, MaxRetries: &zero})
	put(l, 200, 3)
	shutdown(t, l)
	if req, _ := c.count(); req != 5 || l.Stats().Sinks[0].Dropped != 1 {
		t.Fatalf("max_retries=0: %d requests", req)
	}
}

// TestHTTPRecovers: the collector's port refuses connections for a while,
// then a server comes up on the same port. Producers never block, records
// sent after recovery all arrive, and written + dropped == shipped.
func TestHTTPRecovers(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on
	retries := 2
	l := httpLogger(t, SinkConfig{URL: "http://" + addr + "/ingest", QueueBatches: 64, MaxRetries: &retries})
	const down, up = 3000, 1000
	for i := 0; i < down; i++ {
		if !put(l, 200, i) {
			t.Fatalf("record %d dropped by the ring", i)
		}
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Everything so far was handed to the sink and failed or overflowed.
	waitFor(t, "the dead sink to settle", func() bool {
		st := l.Stats()
		return st.Shipped == down && st.Sinks[0].Dropped == down
	})
	if st := l.Stats().Sinks[0]; st.Written != 0 || st.Errors == 0 || !strings.Contains(st.LastError, "refused") {
		t.Fatalf("while down: %+v", st)
	}

	var ln2 net.Listener
	waitFor(t, "the port to be free again", func() bool {
		var err error
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	})
	c := newCollector(t)
	serve(t, ln2, c)
	for i := down; i < down+up; i++ {
		if !put(l, 200, i) {
			t.Fatalf("record %d dropped by the ring", i)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	shutdown(t, l)
	st := l.Stats()
	checkAccounting(t, st, down+up)
	for i := down; i < down+up; i++ {
		if c.ids[string(idOf(i))] != 1 {
			t.Fatalf("record %d, sent after recovery, arrived %d times", i, c.ids[string(idOf(i))])
		}
	}
	if _, n := c.count(); uint64(n) != st.Sinks[0].Written || n != up {
		t.Fatalf("server stored %d, sink wrote %d", n, st.Sinks[0].Written)
	}
}
