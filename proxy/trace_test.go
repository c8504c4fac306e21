package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestTraceparent(t *testing.T) {
	const in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var h fasthttp.RequestHeader
	h.Set("Traceparent", in)
	var id [32]byte
	propagateTrace(&h, seenAll, &id)
	out := string(h.Peek("Traceparent"))
	if string(id[:]) != "4bf92f3577b34da6a3ce929d0e0e4736" || out[:36] != in[:36] || out[52:] != "-01" || out[36:52] == in[36:52] {
		t.Fatalf("kept trace %q, got %q (trace id %s)", in, out, id)
	}
	if !validTraceparent([]byte(out)) {
		t.Fatalf("produced invalid %q", out)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", in + "-extra"} {
		var h fasthttp.RequestHeader
		if bad != "" {
			h.Set("Traceparent", bad)
		}
		propagateTrace(&h, seenAll, &id)
		out := string(h.Peek("Traceparent"))
		if !validTraceparent([]byte(out)) || out[3:35] == "4bf92f3577b34da6a3ce929d0e0e4736" && bad != in+"-extra" {
			t.Errorf("%q: got %q", bad, out)
		}
	}
	// A future version with extra fields keeps its trace id.
	h.Set("Traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
	propagateTrace(&h, seenAll, &id)
	if string(id[:]) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("future version: %s", id)
	}
}

func FuzzTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, in string) {
		var h fasthttp.RequestHeader
		h.Set("Traceparent", in)
		var id [32]byte
		propagateTrace(&h, seenAll, &id)
		if !validTraceparent(h.Peek("Traceparent")) {
			t.Fatalf("%q produced invalid %q", in, h.Peek("Traceparent"))
		}
	})
}
