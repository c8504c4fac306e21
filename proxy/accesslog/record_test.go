package accesslog

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestSetTruncatesToFieldMax(t *testing.T) {
	for f := Field(0); f < numFields; f++ {
		var r Record
		r.SetKeepQuery(true)
		long := bytes.Repeat([]byte("a"), MaxFieldLen(f)+10)
		r.Set(f, long)
		if got := len(r.Get(f)); got != MaxFieldLen(f) {
			t.Fatalf("field %d: stored %d bytes, want %d", f, got, MaxFieldLen(f))
		}
		r.SetString(f, "short")
		if string(r.Get(f)) != "short" {
			t.Fatalf("field %d: reset to %q", f, r.Get(f))
		}
	}
}

func TestSetTruncatesAtRuneBoundary(t *testing.T) {
	// "€" is 3 bytes; 64-byte request id cut must not split one.
	v := strings.Repeat("€", 30) // 90 bytes
	var r Record
	r.SetString(FieldRequestID, v)
	got := r.Get(FieldRequestID)
	if len(got) != 63 || !utf8.Valid(got) {
		t.Fatalf("stored %d bytes, valid=%v", len(got), utf8.Valid(got))
	}
	r.Set(FieldTraceID, []byte(v))
	if got := r.Get(FieldTraceID); len(got) != 63 || !utf8.Valid(got) {
		t.Fatalf("Set: stored %d bytes", len(got))
	}
	// Invalid input is cut at the limit as is.
	bad := bytes.Repeat([]byte{0x80}, 100)
	r.Set(FieldMethod, bad)
	if len(r.Get(FieldMethod)) != 32 {
		t.Fatalf("invalid input cut at %d", len(r.Get(FieldMethod)))
	}
	if n := truncUTF8([]byte("a€"), 2); n != 1 {
		t.Fatalf("truncUTF8 = %d, want 1", n)
	}
	if n := truncUTF8([]byte("🙂"), 2); n != 0 {
		t.Fatalf("truncUTF8 = %d, want 0", n)
	}
}

func TestArenaExhaustion(t *testing.T) {
	var r Record
	r.SetKeepQuery(true)
	r.Set(FieldPath, bytes.Repeat([]byte("p"), 5000))
	r.Set(FieldQuery, bytes.Repeat([]byte("q"), 5000))
	r.Set(FieldUserAgent, bytes.Repeat([]byte("u"), 5000))
	r.Set(FieldHost, bytes.Repeat([]byte("h"), 5000))
	if n := len(r.Get(FieldPath)) + len(r.Get(FieldQuery)) + len(r.Get(FieldUserAgent)) + len(r.Get(FieldHost)); n != ArenaSize {
		t.Fatalf("stored %d bytes in total, want the arena size %d", n, ArenaSize)
	}
	if len(r.Get(FieldHost)) != 0 {
		t.Fatalf("host got %d bytes after the arena was full", len(r.Get(FieldHost)))
	}
	r.SetString(FieldMethod, "GET")
	if len(r.Get(FieldMethod)) != 0 {
		t.Fatal("field stored past the arena")
	}
	r.reset()
	r.SetString(FieldMethod, "GET")
	if string(r.Get(FieldMethod)) != "GET" || len(r.Get(FieldPath)) != 0 {
		t.Fatal("reset did not clear the arena offsets")
	}
}

func TestQueryDroppedWithoutKeepQuery(t *testing.T) {
	var r Record
	r.SetString(FieldQuery, "a=1")
	r.Set(FieldQuery, []byte("a=1"))
	if len(r.Get(FieldQuery)) != 0 || r.used != 0 {
		t.Fatal("query stored although not kept")
	}
}

func TestSetClientAddr(t *testing.T) {
	var r Record
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "fe80::1%eth0"} {
		r.SetClientAddr(netip.MustParseAddr(s))
		if string(r.Get(FieldClientIP)) != s {
			t.Fatalf("got %q want %q", r.Get(FieldClientIP), s)
		}
	}
	r.SetClientAddr(netip.Addr{})
	if len(r.Get(FieldClientIP)) != 0 { // unknown address logs as ""
		t.Fatalf("zero addr: %q", r.Get(FieldClientIP))
	}
}

func TestSetInvalidFieldPanics(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.HasPrefix(p.(string), "BUG:") {
			t.Fatalf("recover = %v", p)
		}
	}()
	var r Record
	r.Set(numFields, nil)
}

func TestEnumNames(t *testing.T) {
	if CacheHit.String() != "hit" || CacheStatus(99).String() != "invalid" ||
		ThrottleLimited.String() != "limited" || ThrottleOutcome(9).String() != "invalid" ||
		AuthForbidden.String() != "forbidden" || AuthOutcome(9).String() != "invalid" {
		t.Fatal("enum names")
	}
}

func TestRecordSize(t *testing.T) {
	// The ring memory estimate in Config.RingSize's comment depends on it.
	if s := unsafe.Sizeof(Record{}); s > 2300 {
		t.Fatalf("Record is %d bytes; update the RingSize documentation", s)
	}
}
