package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

// testTime is a fixed request time: 2024-02-29T23:59:58.123Z.
var testTime = time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC).UnixNano()

// fillRecord gives r typical values and request id id.
func fillRecord(r *Record, id []byte) {
	r.Time = testTime
	r.Set(FieldRequestID, id)
	r.SetString(FieldTraceID, "4bf92f3577b34da6a3ce929d0e0e4736")
	r.SetString(FieldClientIP, "192.0.2.10")
	r.SetString(FieldMethod, "GET")
	r.SetString(FieldHost, "api.example.com")
	r.SetString(FieldPath, "/v1/orders/42")
	r.SetString(FieldQuery, "page=2&token=s3cret")
	r.SetString(FieldConsumer, "acme")
	r.SetString(FieldUpstream, "10.0.0.7:8080")
	r.SetString(FieldUserAgent, "curl/8.5.0")
	r.Group, r.Stage, r.API = "shop", "prod", "orders"
	r.BytesIn, r.BytesOut = 17, 2048
	r.Total, r.Backend = 1500*time.Microsecond+999, 1200*time.Microsecond
	r.Cache, r.Throttle, r.Auth = CacheMiss, ThrottlePass, AuthOK
}

// line is a decoded access-log line.
type line struct {
	Time      string `json:"time"`
	RequestID string `json:"request_id"`
	TraceID   string `json:"trace_id"`
	ClientIP  string `json:"client_ip"`
	Method    string `json:"method"`
	Host      string `json:"host"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	ErrorCode string `json:"error_code"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	Group     string `json:"group"`
	Stage     string `json:"stage"`
	API       string `json:"api"`
	Consumer  string `json:"consumer"`
	Upstream  string `json:"upstream"`
	Attempts  int    `json:"attempts"`
	LatencyUS int64  `json:"latency_us"`
	GatewayUS int64  `json:"gateway_us"`
	BackendUS int64  `json:"backend_us"`
	Cache     string `json:"cache"`
	Throttle  string `json:"throttle"`
	Auth      string `json:"auth"`
	UserAgent string `json:"user_agent"`
}

// decodeLine decodes one line strictly: no unknown or missing keys.
func decodeLine(t testing.TB, b []byte) line {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	if len(m) != 24 {
		t.Fatalf("line has %d keys, want 24: %s", len(m), b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l line
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return l
}

// readLines returns the decoded lines of a file; a missing file is empty.
func readLines(t testing.TB, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, decodeLine(t, sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readIDs is a cheaper readLines for big files: each line must be valid
// JSON; it returns the request ids.
func readIDs(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.Fatalf("last line not terminated: %q", data)
		}
		var v struct {
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
		}
		if err := json.Unmarshal(data[:i], &v); err != nil || v.Status == 0 {
			t.Fatalf("line %q: %v", data[:i], err)
		}
		ids = append(ids, v.RequestID)
		data = data[i+1:]
	}
	return ids
}

func idOf(i int) []byte { return strconv.AppendInt([]byte("req-"), int64(i), 10) }

// put logs one record with id i; it reports whether the ring took it.
func put(l *Logger, status, i int) bool {
	r := l.Reserve(status)
	if r == nil {
		return false
	}
	var buf [32]byte
	fillRecord(r, strconv.AppendInt(append(buf[:0], "req-"...), int64(i), 10))
	l.Commit(r)
	return true
}

func shutdown(t testing.TB, l *Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkAccounting asserts that every record is written or counted dropped.
func checkAccounting(t testing.TB, st Stats, attempts uint64) {
	t.Helper()
	if got := st.Shipped + st.Dropped + st.SampledOut; got != attempts {
		t.Errorf("shipped %d + dropped %d + sampled out %d = %d, want %d attempts",
			st.Shipped, st.Dropped, st.SampledOut, got, attempts)
	}
	for _, s := range st.Sinks {
		if s.Written+s.Dropped != st.Shipped {
			t.Errorf("sink %s: written %d + dropped %d != shipped %d", s.Name, s.Written, s.Dropped, st.Shipped)
		}
	}
}
