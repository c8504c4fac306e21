package accesslog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEncodeRoundTrip(t *testing.T) {
	var r Record
	r.SetKeepQuery(true)
	fillRecord(&r, []byte("req-1"))
	r.Status = 201
	r.SetString(FieldErrorCode, "")
	enc := NewEncoder(DefaultMaskedParams)
	b := enc.AppendJSON(nil, &r)
	if strings.Count(string(b), "\n") != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("not one line: %q", b)
	}
	l := decodeLine(t, b)
	want := line{
		Time: "2024-02-29T23:59:58.123Z", RequestID: "req-1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		ClientIP: "192.0.2.10", Method: "GET", Host: "api.example.com", Path: "/v1/orders/42?page=2&token=***",
		Status: 201, BytesIn: 17, BytesOut: 2048, Group: "shop", Stage: "prod", API: "orders",
		Consumer: "acme", Upstream: "10.0.0.7:8080", LatencyUS: 1500, GatewayUS: 300, BackendUS: 1200,
		Cache: "miss", Throttle: "pass", Auth: "ok", UserAgent: "curl/8.5.0",
	}
	if l != want {
		t.Fatalf("got  %+v\nwant %+v", l, want)
	}
}

func TestEncodeZeroRecord(t *testing.T) {
	var r Record
	l := decodeLine(t, NewEncoder(nil).AppendJSON(nil, &r))
	if l.Time != "1970-01-01T00:00:00.000Z" || l.Path != "" || l.Cache != "none" || l.Auth != "none" || l.Throttle != "none" {
		t.Fatalf("zero record: %+v", l)
	}
}

func TestEncodeQueryOffByDefault(t *testing.T) {
	var r Record // keepQuery false, as for a ring built without include_query
	fillRecord(&r, []byte("x"))
	l := decodeLine(t, NewEncoder(DefaultMaskedParams).AppendJSON(nil, &r))
	if l.Path != "/v1/orders/42" {
		t.Fatalf("path %q, want no query", l.Path)
	}
}

func TestAppendTime(t *testing.T) {
	cases := []time.Time{
		time.Unix(0, 0),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 1e6, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC),
		time.Unix(0, testTime),
	}
	for i := int64(0); i < 2000; i++ {
		cases = append(cases, time.Unix(0, i*7919*86400e9/3+i*1234567))
		cases = append(cases, time.Unix(0, -i*7919*86400e9/5-i*7654321))
	}
	for _, c := range cases {
		got := string(appendTime(nil, c.UnixNano()))
		want := c.UTC().Format("2006-01-02T15:04:05.000Z")
		if got != want {
			t.Fatalf("%d: got %s want %s", c.UnixNano(), got, want)
		}
	}
}

func TestLatencyInvariant(t *testing.T) {
	ds := []time.Duration{0, 1, 999, 1000, 1001, 1999, 2000, 123456789, -5, -1000, 1<<63 - 1, -1 << 63}
	for _, total := range ds {
		for _, backend := range ds {
			tu, gu, bu := Latencies(total, backend)
			if gu+bu != tu || gu < 0 || bu < 0 {
				t.Fatalf("total %d backend %d: %d+%d != %d", total, backend, gu, bu, tu)
			}
			var r Record
			r.Total, r.Backend = total, backend
			l := decodeLine(t, NewEncoder(nil).AppendJSON(nil, &r))
			if l.GatewayUS+l.BackendUS != l.LatencyUS {
				t.Fatalf("encoded %+v breaks gateway+backend==total", l)
			}
		}
	}
	if tu, gu, bu := Latencies(1500999*time.Nanosecond, 1200*time.Microsecond); tu != 1500 || gu != 300 || bu != 1200 {
		t.Fatalf("Latencies = %d %d %d", tu, gu, bu)
	}
}

func TestEscaping(t *testing.T) {
	cases := map[string]string{
		"plain":              "plain",
		"q\"b\\s":            "q\"b\\s",
		"\x00\x01\x1f\n\r\t": "\x00\x01\x1f\n\r\t",
		"héllo 世界 🙂":         "héllo 世界 🙂",
		"\u2028\u2029":       "\u2028\u2029",
		"a\xffb\xc3":         "a\ufffdb\ufffd",
		"\xed\xa0\x80":       "\ufffd\ufffd\ufffd", // surrogate half is invalid UTF-8
		"</script>&":         "</script>&",
		"\x7f":               "\x7f",
	}
	for in, want := range cases {
		b := append([]byte{'"'}, appendEscaped(nil, []byte(in))...)
		b = append(b, '"')
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", in, b, err)
		}
		if got != want {
			t.Fatalf("%q -> %s -> %q, want %q", in, b, got, want)
		}
		if strings.ContainsAny(string(b), "\n\r\u2028\u2029") {
			t.Fatalf("%q: raw line break in %q", in, b)
		}
	}
}

// TestEncoderTimeCache: the cached second prefix never leaks into a record
// of another second, backwards and forwards, before 1970 included.
func TestEncoderTimeCache(t *testing.T) {
	e := NewEncoder(nil)
	for _, ns := range []int64{
		1_700_000_000_123_000_000, 1_700_000_000_999_999_999, 1_700_000_001_000_000_000,
		1_700_000_000_000_000_000, 1_700_000_001_500_000_000, 0, -1, -1_000_000_000, -999_999_999,
		1_699_999_999_999_000_000, 1_700_086_400_001_000_000,
	} {
		got := string(e.appendTime(nil, ns))
		if want := string(appendTime(nil, ns)); got != want {
			t.Errorf("%d: cached %s, want %s", ns, got, want)
		}
	}
}

// TestEncodeRawArenaOnlyWhenSafe: one field that needs escaping makes the
// whole record go through the escaping path; the line stays valid JSON
// and round-trips every field.
func TestEncodeRawArenaOnlyWhenSafe(t *testing.T) {
	e := NewEncoder(nil)
	for _, ua := range []string{"curl/8.5", "evil\"}\n{\"x\":1", "caf\xc3\xa9", "bad\xff"} {
		var r Record
		r.Status = 200
		r.Set(FieldRequestID, []byte("req-1"))
		r.Set(FieldPath, []byte("/a/b"))
		r.Set(FieldUserAgent, []byte(ua))
		line := e.AppendJSON(nil, &r)
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%q: %v\n%s", ua, err, line)
		}
		want := strings.ToValidUTF8(ua, "\uFFFD")
		if m["user_agent"] != want || m["path"] != "/a/b" || m["request_id"] != "req-1" {
			t.Errorf("%q: decoded %v", ua, m)
		}
	}
}
