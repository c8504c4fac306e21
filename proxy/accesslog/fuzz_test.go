package accesslog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzEncode: any bytes in any field give one line of valid JSON whose
// string values equal the stored bytes whenever those are valid UTF-8, and
// gateway_us + backend_us == latency_us.
func FuzzEncode(f *testing.F) {
	f.Add([]byte("req-1"), []byte("GET"), []byte("/a/b"), []byte("x=1&token=abc"), []byte("curl/8"), "shop", int64(1500999), int64(1200000), int64(0))
	f.Add([]byte("\x00\"\\\n"), []byte("\xff\xfe"), []byte("/\u2028/"), []byte("%74oken=\x01&a"), []byte("é\xc3"), "g\"\n", int64(-1), int64(5), int64(-1e18))
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, []byte{}, "", int64(0), int64(0), int64(1<<62))
	enc := NewEncoder(DefaultMaskedParams)
	f.Fuzz(func(t *testing.T, id, method, path, query, ua []byte, group string, total, backend, ts int64) {
		var r Record
		r.SetKeepQuery(true)
		r.Time = ts
		r.Set(FieldRequestID, id)
		r.Set(FieldMethod, method)
		r.Set(FieldPath, path)
		r.Set(FieldQuery, query)
		r.Set(FieldUserAgent, ua)
		r.Set(FieldHost, query) // a second copy exercises the shared arena
		r.Group = group
		r.Total, r.Backend = time.Duration(total), time.Duration(backend)
		out := enc.AppendJSON(nil, &r)
		if bytes.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("not exactly one line: %q", out)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		l := decodeLine(t, out)
		check := func(name string, stored []byte, got string) {
			if utf8.Valid(stored) && got != string(stored) {
				t.Fatalf("%s: stored %q, decoded %q", name, stored, got)
			}
		}
		check("request_id", r.Get(FieldRequestID), l.RequestID)
		check("method", r.Get(FieldMethod), l.Method)
		check("user_agent", r.Get(FieldUserAgent), l.UserAgent)
		check("host", r.Get(FieldHost), l.Host)
		check("group", []byte(group), l.Group)
		wantPath := string(r.Get(FieldPath))
		if q := r.Get(FieldQuery); len(q) > 0 {
			wantPath += "?" + string(maskQuery(nil, q, enc.masked))
		}
		check("path", []byte(wantPath), l.Path)
		if !utf8.Valid([]byte(wantPath)) && !strings.ContainsRune(l.Path, utf8.RuneError) {
			t.Fatalf("invalid UTF-8 path %q decoded without U+FFFD: %q", wantPath, l.Path)
		}
		if l.GatewayUS+l.BackendUS != l.LatencyUS || l.GatewayUS < 0 || l.BackendUS < 0 {
			t.Fatalf("latencies %d+%d != %d", l.GatewayUS, l.BackendUS, l.LatencyUS)
		}
		if want := time.Unix(0, ts).UTC().Format("2006-01-02T15:04:05.000Z"); l.Time != want {
			t.Fatalf("time %s, want %s", l.Time, want)
		}
	})
}

// FuzzMaskQuery checks maskQuery against a simple model: split on & and ;,
// mask the value when the form-decoded, ASCII-lowered name matches.
func FuzzMaskQuery(f *testing.F) {
	for _, s := range []string{"a=1&token=x", "TOK%45N=1;b", "to%6ben=%", "=&&;=", "token", "api_key=1=2", "%%%="} {
		f.Add(s, "token")
	}
	f.Add("pass+word=1", "pass word")
	f.Fuzz(func(t *testing.T, q, name string) {
		name = asciiLower(name)
		if name == "" || strings.ContainsAny(name, "&;=") {
			return
		}
		got := string(maskQuery(nil, []byte(q), [][]byte{[]byte(name)}))
		var want strings.Builder
		start := 0
		for i := 0; i <= len(q); i++ {
			if i < len(q) && q[i] != '&' && q[i] != ';' {
				continue
			}
			p := q[start:i]
			if k, _, ok := strings.Cut(p, "="); ok && modelDecode(k) == name {
				want.WriteString(k + "=***")
			} else {
				want.WriteString(p)
			}
			if i < len(q) {
				want.WriteByte(q[i])
			}
			start = i + 1
		}
		if got != want.String() {
			t.Fatalf("maskQuery(%q, %q) = %q, model %q", q, name, got, want.String())
		}
	})
}

// modelDecode form-decodes s leniently (bad escapes literal), ASCII-lowered.
func modelDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '+':
			b.WriteByte(' ')
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return asciiLower(b.String())
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzParseSize: no panics; accepted values are in range and round-trip.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1MiB", "4096", "10KB", "1GiB", "", "-1", "1.5MiB", "99999999999999GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := ParseSize(s)
		if err != nil {
			return
		}
		if z < 0 || z > maxSize {
			t.Fatalf("%q -> %d out of range", s, z)
		}
		txt, _ := z.MarshalText()
		z2, err := ParseSize(string(txt))
		if err != nil || z2 != z {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, z, txt, z2, err)
		}
	})
}
