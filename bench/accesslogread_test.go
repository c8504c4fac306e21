package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/proxy/accesslog"
)

// goodLine is a record as proxy/accesslog's encoder writes it.
const goodLine = `{"time":"2025-01-02T03:04:05.678Z","request_id":"r1","trace_id":"t1","client_ip":"10.0.0.1","method":"GET","host":"api.example.com","path":"/users/42?token=***&x=1","status":200,"error_code":"","bytes_in":0,"bytes_out":512,"group":"demo","stage":"RELEASE","api":"users","consumer":"acme","upstream":"http://10.0.0.2:80","attempts":1,"latency_us":1500,"gateway_us":300,"backend_us":1200,"cache":"miss","throttle":"pass","auth":"ok","user_agent":"curl/8"}`

func TestParseLogLine(t *testing.T) {
	var r LogRecord
	if err := ParseLogLine([]byte(goodLine), &r); err != nil {
		t.Fatal(err)
	}
	want := LogRecord{
		Time: time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC), RequestID: "r1", TraceID: "t1", ClientIP: "10.0.0.1",
		Method: "GET", Host: "api.example.com", Path: "/users/42", Query: "token=***&x=1", Status: 200,
		BytesOut: 512, Group: "demo", Stage: "RELEASE", API: "users", Consumer: "acme", Upstream: "http://10.0.0.2:80",
		Attempts: 1, LatencyUS: 1500, GatewayUS: 300, BackendUS: 1200, Cache: "miss", Throttle: "pass", Auth: "ok", UserAgent: "curl/8",
	}
	if !r.Time.Equal(want.Time) {
		t.Errorf("time %v", r.Time)
	}
	r.Time = want.Time
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}

	for _, c := range []struct{ line, err string }{
		{`garbage`, "not a JSON object"},
		{`{"time":`, "not a Sluice access-log record"},
		{strings.Replace(goodLine, `"user_agent"`, `"agent"`, 1), "not a Sluice access-log record"},
		{strings.Replace(goodLine, `"status":200`, `"status":"200"`, 1), "not a Sluice access-log record"},
		{strings.Replace(goodLine, `"status":200`, `"status":1000`, 1), "out of range"},
		{strings.Replace(goodLine, `"method":"GET",`, ``, 1), `missing "method"`},
		{strings.Replace(goodLine, `"time":"2025-01-02T03:04:05.678Z",`, ``, 1), `missing "time"`},
		{strings.Replace(goodLine, `2025-01-02T03`, `yesterday`, 1), `bad "time"`},
		{strings.Replace(goodLine, `"/users/42`, `"users/42`, 1), "does not start with /"},
		{strings.Replace(goodLine, `"backend_us":1200`, `"backend_us":2000`, 1), "exceeds"},
		{strings.Replace(goodLine, `"bytes_out":512`, `"bytes_out":-1`, 1), "negative"},
		{strings.Replace(goodLine, `"auth":"ok"`, `"auth":"maybe"`, 1), "unknown"},
		{strings.Replace(goodLine, `"api":"users"`, `"api":""`, 1), "without"},
		{goodLine + ` {}`, "data after"},
		// The decoder keeps the last of duplicate keys; a record has each once.
		{strings.Replace(goodLine, `"status":200`, `"status":200,"status":500`, 1), `key "status" twice`},
		{strings.Replace(goodLine, `"host":`, `"path":"/other","host":`, 1), `key "path" twice`},
		{strings.Replace(goodLine, `"api":"users"`, `"api":"users","\u0061pi":"x"`, 1), `key "api" twice`},
		{"   ", "empty line"},
	} {
		if err := ParseLogLine([]byte(c.line), &r); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%.60q: error %v, want %q", c.line, err, c.err)
		}
	}
}

// TestParseLogLineEncoder reads what the gateway's own encoder writes, so
// the reader cannot drift from the format.
func TestParseLogLineEncoder(t *testing.T) {
	var rec accesslog.Record
	rec.Time = time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.UTC).UnixNano()
	rec.Status, rec.BytesIn, rec.BytesOut = 201, 100, 2048
	rec.Group, rec.API, rec.Stage = "shop", "orders", "TEST"
	rec.Total, rec.Backend = 3*time.Millisecond, 2*time.Millisecond
	rec.Attempts = 2
	rec.Auth = accesslog.AuthOK
	rec.Throttle = accesslog.ThrottleLimited
	rec.SetString(accesslog.FieldMethod, "POST")
	rec.SetString(accesslog.FieldPath, "/orders")
	rec.SetString(accesslog.FieldConsumer, "acme")
	rec.SetString(accesslog.FieldUserAgent, "ua with \"quotes\"\n")
	line := accesslog.NewEncoder([]string{"key"}).AppendJSON(nil, &rec)
	var r LogRecord
	if err := ParseLogLine(bytes.TrimSuffix(line, []byte("\n")), &r); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if r.Method != "POST" || r.Path != "/orders" || r.Query != "" || r.Status != 201 || r.BytesIn != 100 ||
		r.BytesOut != 2048 || r.Group != "shop" || r.API != "orders" || r.Stage != "TEST" || r.LatencyUS != 3000 ||
		r.BackendUS != 2000 || r.GatewayUS != 1000 || r.Attempts != 2 || r.Auth != "ok" || r.Throttle != "limited" ||
		r.Consumer != "acme" || r.UserAgent != "ua with \"quotes\"\n" || !r.Time.Equal(time.UnixMilli(rec.Time/1e6)) {
		t.Errorf("%s\nread as %+v", line, r)
	}
}

func writeLog(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadAccessLog covers plain and gzip input (by magic, not name) and
// every bad input with its line number.
func TestReadAccessLog(t *testing.T) {
	three := []byte(goodLine + "\n\n" + goodLine + "\r\n" + goodLine) // a blank line, CRLF, no final newline
	for name, data := range map[string][]byte{"plain.log": three, "rotated.1": gz(t, three)} {
		n, err := ReadAccessLogFile(writeLog(t, name, data), func(line int, r *LogRecord) error {
			if r.API != "users" {
				t.Errorf("line %d: %+v", line, r)
			}
			return nil
		})
		if n != 3 || err != nil {
			t.Errorf("%s: %d records, %v", name, n, err)
		}
	}

	long := append([]byte(goodLine+"\n"), bytes.Repeat([]byte("x"), MaxLogLine+10)...)
	full := gz(t, bytes.Repeat([]byte(goodLine+"\n"), 200))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte(goodLine + "\n" + "GET /index.html 200\n"), ":2: not a JSON object"},
		{"empty", nil, "no access-log records"},
		{"blank", []byte("\n\n"), "no access-log records"},
		{"truncated.gz", full[:len(full)/2], "gzip stream truncated"},
		{"badheader.gz", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
		{"long", long, ":2: line longer than"},
	} {
		_, err := ReadAccessLogFile(writeLog(t, c.name, c.data), func(int, *LogRecord) error { return nil })
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: %v, want %q and the file name", c.name, err, c.want)
		}
	}
	if _, err := ReadAccessLogFile(filepath.Join(t.TempDir(), "missing.log"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// The callback's error names the line.
	boom := errors.New("boom")
	_, err := ReadAccessLogFile(writeLog(t, "cb", three), func(line int, _ *LogRecord) error {
		if line == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "cb:3: boom") {
		t.Errorf("callback error: %v", err)
	}
}

// FuzzParseLogLine: no input panics, and whatever parses satisfies the
// invariants the mix relies on. Run: go test ./bench/ -run '^$' -fuzz FuzzParseLogLine -fuzztime 30s
func FuzzParseLogLine(f *testing.F) {
	f.Add([]byte(goodLine))
	f.Add([]byte(strings.Replace(goodLine, `"api":"users"`, `"api":"","group":"","stage":""`, 1)))
	f.Add([]byte(`{"time":"2025-01-02T03:04:05Z","method":"GET","path":"/","status":404,"latency_us":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"status":1e400}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r LogRecord
		if err := ParseLogLine(line, &r); err != nil {
			return
		}
		if r.Status < 100 || r.Status > 599 || r.Path == "" || r.Path[0] != '/' || r.Method == "" ||
			r.BytesIn < 0 || r.BytesOut < 0 || r.BackendUS > r.LatencyUS || (r.API == "") != (r.Group == "") && r.API != "" {
			t.Fatalf("%q parsed to %+v", line, r)
		}
	})
}
