package proxy

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestCensusSeesEveryNameInAnyCase: a census name the client sends in any
// case sets its bit (a clear bit makes the pipeline skip the header, so a
// missed name would let a client's hop-by-hop or identity header through),
// and other names set none.
func TestCensusSeesEveryNameInAnyCase(t *testing.T) {
	for i, name := range censusNames {
		if name == "Transfer-Encoding" {
			continue // fasthttp frames by it and rejects unknown codings; the pipeline never deletes it
		}
		for _, spelled := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			var req fasthttp.Request
			raw := "GET / HTTP/1.1\r\nHost: a.example\r\nX-Other: 1\r\n" + spelled + ": v\r\n\r\n"
			if err := req.Read(bufioReader(raw)); err != nil {
				t.Fatalf("%s: %v", spelled, err)
			}
			got := censusRequest(&req.Header)
			if want := headerSet(1) << i; got&want == 0 {
				t.Errorf("census of %q: bits %b lack %b", spelled, got, want)
			}
		}
	}
	var req fasthttp.Request
	if err := req.Read(bufioReader("GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Fo: 1\r\nVia2: x\r\nAccept: */*\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := censusRequest(&req.Header); got != 0 {
		t.Errorf("census of a request with no census name: %b, want 0", got)
	}
	var resp fasthttp.Response
	resp.Header.Set("Keep-Alive", "timeout=5")
	resp.Header.Set("Content-Type", "text/plain")
	if got := censusResponse(&resp.Header); !got.has(seenHop(2)) || got.has(seenHop(3)) {
		t.Errorf("response census %b: want Keep-Alive's bit only", got)
	}
}

// TestCensusDefaultsToLook: before admit takes the census (a request
// rejected by the framing checks), every bit is set, so the request id step
// still looks for the client's X-Request-Id.
func TestCensusDefaultsToLook(t *testing.T) {
	st := acquireReqState()
	defer releaseReqState(st)
	if st.seen != seenAll {
		t.Fatalf("a fresh reqState's census is %b, want all bits", st.seen)
	}
	st.seen = 0
	st.reset()
	if st.seen != seenAll {
		t.Fatalf("reset left census %b, want all bits", st.seen)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// FuzzCensus: for any request fasthttp parses, a census name whose bit is
// clear is one fasthttp's own lookup does not find (the pipeline skips the
// lookup on a clear bit, so a false clear bit would let a client's header
// through unstripped or unreplaced).
func FuzzCensus(f *testing.F) {
	f.Add("X-Forwarded-For: 1.2.3.4\r\nvia: 1.1 a\r\n")
	f.Add("Connection: close, x-request-id\r\nX-Request-Id: abc\r\nTE: trailers\r\n")
	f.Add("Upgrade: websocket\r\nConnection: Upgrade\r\nX-CA-STAGE: TEST\r\n")
	f.Add("Cookie: a=b\r\nTrailer: X-Consumer-Name\r\nKeep-Alive: 5\r\n")
	f.Fuzz(func(t *testing.T, headers string) {
		var req fasthttp.Request
		if err := req.Read(bufioReader("GET / HTTP/1.1\r\nHost: a.example\r\n" + headers + "\r\n")); err != nil {
			return
		}
		seen := censusRequest(&req.Header)
		for i, name := range censusNames {
			if seen.has(1<<i) || name == "Transfer-Encoding" {
				continue
			}
			if v := req.Header.PeekAll(name); len(v) > 0 {
				t.Fatalf("census bit of %s clear, but the request carries %q", name, v)
			}
		}
	})
}
