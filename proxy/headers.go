package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/netip"

	"github.com/sluicegw/sluice/policy/httpbytes"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/valyala/fasthttp"
)

// hopByHop are the headers that describe one connection, not the message:
// they are removed in both directions, after the headers the Connection
// header itself names (RFC 9110 §7.6.1). Transfer-Encoding is re-derived by
// fasthttp when the message is written; Upgrade is dropped here and set
// again by a WebSocket API's tunnel (tunnel.go).
var hopByHop = [...]string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// connectionList copies every Connection field into dst as one
// comma-separated list (RFC 9110 §5.3). The copy matters twice: deleting the
// headers it names edits the header storage the field values live in, and
// a second Connection field names hop-by-hop headers as much as the first.
// dst is a caller's stack array; a list longer than it moves to the heap,
// which only a hostile client causes, rather than leaving names unstripped.
func connectionList(dst []byte, fields [][]byte) []byte {
	for _, v := range fields {
		if len(dst) > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, v...)
	}
	return dst
}

// nextToken splits the first element off a comma-separated list and trims
// it; an empty element comes back as an empty token.
func nextToken(list []byte) (tok, rest []byte) {
	if i := httpbytes.IndexByte(list, ','); i >= 0 {
		return httpbytes.TrimOWS(list[:i]), list[i+1:]
	}
	return httpbytes.TrimOWS(list), nil
}

// stripRequestHopByHop removes connection-scoped headers from a request about
// to be forwarded and reports whether the client asked to close its
// connection, which the response must then honour. The headers are deleted
// by direct method calls, never through a func value: that would move the
// copy buffer to the heap on every request that has a Connection header.
func stripRequestHopByHop(h *fasthttp.RequestHeader, seen headerSet) (clientClose bool) {
	clientClose = h.ConnectionClose()
	if seen.has(seenHop(0)) {
		var buf [256]byte
		for rest := connectionList(buf[:0], h.PeekAll(fasthttp.HeaderConnection)); len(rest) > 0; {
			var tok []byte
			tok, rest = nextToken(rest)
			switch {
			case len(tok) == 0, httpbytes.EqualFoldASCII(tok, "keep-alive"):
			case httpbytes.EqualFoldASCII(tok, "close"):
				clientClose = true
			case httpbytes.EqualFoldASCII(tok, "content-length"), httpbytes.EqualFoldASCII(tok, "transfer-encoding"), httpbytes.EqualFoldASCII(tok, "host"):
				// Framing and routing are not the client's to remove: deleting
				// Content-Length after the body was framed by it would send the
				// upstream a request without its body, and the body as the next.
			default:
				h.DelBytes(tok)
			}
		}
	}
	// The census (census.go) says which hop-by-hop headers are there; only
	// those are deleted. A Del per name would scan the headers and normalize
	// the name each time, for headers most requests do not have.
	// Transfer-Encoding is fasthttp's to frame: never deleted here.
	for i, name := range hopByHop {
		if seen.has(seenHop(i)) && name != "Transfer-Encoding" {
			h.Del(name)
		}
	}
	// Upstream connections are pooled: never ask the upstream to close one
	// because the client closes its own.
	h.ResetConnectionClose()
	return clientClose
}

// stripResponseHopByHop does the same for the upstream's response.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	seen := censusResponse(h)
	if seen.has(seenHop(0)) {
		var buf [256]byte
		for rest := connectionList(buf[:0], h.PeekAll(fasthttp.HeaderConnection)); len(rest) > 0; {
			var tok []byte
			tok, rest = nextToken(rest)
			if len(tok) > 0 && !httpbytes.EqualFoldASCII(tok, "keep-alive") && !httpbytes.EqualFoldASCII(tok, "close") {
				h.DelBytes(tok)
			}
		}
	}
	for i, name := range hopByHop {
		// Transfer-Encoding: fasthttp frames the body it writes; deleting
		// would lose chunked framing of a stream.
		if seen.has(seenHop(i)) && name != "Transfer-Encoding" {
			h.Del(name)
		}
	}
	h.ResetConnectionClose()
}

// setForwarded adds X-Forwarded-For (the peer appended to what earlier
// proxies wrote), X-Forwarded-Proto ("http" or "https": the client
// connection's scheme) and X-Forwarded-Host. scratch is reused. seen is the
// request's census: when the client sent none of the three, they are set
// without looking for earlier fields.
func setForwarded(h *fasthttp.RequestHeader, seen headerSet, peer netip.Addr, host []byte, scratch []byte, proto string) []byte {
	b := scratch[:0]
	if !seen.has(seenForwardedFor | seenForwardedProto | seenForwardedHost) {
		b = peer.Unmap().WithZone("").AppendTo(b)
		h.SetCanonical(strXForwardedFor, b)
		h.SetCanonical(strXForwardedProto, s2b(proto))
		if len(host) > 0 {
			h.SetCanonical(strXForwardedHost, host)
		}
		return b
	}
	for _, v := range h.PeekAll("X-Forwarded-For") {
		v = httpbytes.TrimOWS(v)
		if len(v) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	b = peer.Unmap().WithZone("").AppendTo(b)
	// A Set replaces the first field of a name and leaves a second one in
	// place: a name the client sent more than once is deleted first. One
	// pass counts them; most requests have none.
	var xff, proto2, host2 int
	for k := range h.All() {
		switch {
		case len(k) == len("X-Forwarded-For") && httpbytes.EqualFoldString(k, "X-Forwarded-For"):
			xff++
		case len(k) == len("X-Forwarded-Proto") && httpbytes.EqualFoldString(k, "X-Forwarded-Proto"):
			proto2++
		case len(k) == len("X-Forwarded-Host") && httpbytes.EqualFoldString(k, "X-Forwarded-Host"):
			host2++
		}
	}
	if xff > 1 {
		h.Del("X-Forwarded-For")
	}
	h.SetCanonical(strXForwardedFor, b)
	if proto2 > 1 {
		h.Del("X-Forwarded-Proto")
	}
	h.SetCanonical(strXForwardedProto, s2b(proto))
	if host2 > 0 && (host2 > 1 || len(host) == 0) {
		h.Del("X-Forwarded-Host")
	}
	if len(host) > 0 {
		h.SetCanonical(strXForwardedHost, host)
	}
	return b
}

// Canonical header names for SetCanonical, which skips the copy and
// normalization every Set makes of its name.
var (
	strXForwardedFor   = []byte("X-Forwarded-For")
	strXForwardedProto = []byte("X-Forwarded-Proto")
	strXForwardedHost  = []byte("X-Forwarded-Host")
	strVia             = []byte(fasthttp.HeaderVia)
	strTraceparent     = []byte("Traceparent")
	strRequestID       = []byte(headerRequestID)
)

// clientIP is the address the request's policies see as the client: the
// socket peer, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For hop that is not itself trusted. The walk is
// ipacl.ClientIP, the gateway's one resolver (fuzzed there): it never
// returns a zoned address, so no client-written zone text reaches
// templates, upstream headers or logs (issue 10, defect 15).
func clientIP(peer netip.Addr, h *fasthttp.RequestHeader, trusted []netip.Prefix) netip.Addr {
	if len(trusted) == 0 {
		return peer.Unmap().WithZone("") // skip the header lookup: nothing is trusted
	}
	return ipacl.ClientIP(peer, h.PeekAll("X-Forwarded-For"), ipacl.Prefixes(trusted))
}

// viaMarker names this process in Via (RFC 9110 §7.6.3): "sluice-" and 16
// random hex digits, fresh per process, so two gateways chained on purpose
// each see the other's marker and not their own, while a request that comes
// back to the process that already forwarded it (a backend pointing at the
// gateway's own listener) carries its own marker and is answered 508 instead
// of looping until the upstream pool runs dry (issue 10, defect 12).
var viaMarker [len("sluice-") + 16]byte

func init() {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	copy(viaMarker[:], "sluice-")
	hex.Encode(viaMarker[len("sluice-"):], b[:])
}

// appendVia prepares the request line and Via of a request about to be
// forwarded: the client's Via fields are kept, in order, as one list, this
// hop is appended as "<version> sluice-<id>" where version is what the
// client spoke ("1.0" or "1.1"; checkRequest refused the rest), and the
// upstream request becomes HTTP/1.1 whatever the client sent, because the
// upstream client speaks only HTTP/1.1 (issue 10, defect 9). It must run
// after the client's hop-by-hop headers are removed, or "Connection: Via"
// would strip the marker. scratch is reused and returned; no allocations.
func appendVia(h *fasthttp.RequestHeader, seen headerSet, scratch []byte) []byte {
	b := scratch[:0]
	var fields [][]byte
	if seen.has(seenVia) {
		fields = h.PeekAll(fasthttp.HeaderVia)
	}
	n := len(fields)
	for _, v := range fields {
		v = httpbytes.TrimOWS(v)
		if len(v) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	if h.IsHTTP11() {
		b = append(b, "1.1 "...)
	} else {
		b = append(b, "1.0 "...)
	}
	b = append(b, viaMarker[:]...)
	if n > 1 {
		h.Del(fasthttp.HeaderVia) // every field: a Set alone would leave the second one in place
	}
	h.SetCanonical(strVia, b)
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1")
	}
	return b
}

// viaLoops reports whether a Via field of the request names this process:
// the request already passed through here once, so forwarding it again
// would loop.
func viaLoops(h *fasthttp.RequestHeader) bool {
	for _, v := range h.PeekAll(fasthttp.HeaderVia) {
		if viaNamesUs(v) {
			return true
		}
	}
	return false
}

// viaNamesUs reports whether one Via field value lists this process's
// marker as a received-by entry. The marker is compared as a whole token
// (it follows a blank and ends at a comma, blank or the end), so a longer
// id that merely starts with ours does not match.
func viaNamesUs(v []byte) bool {
	for off := 0; off < len(v); {
		k := bytes.Index(v[off:], viaMarker[:])
		if k < 0 {
			return false
		}
		i, j := off+k, off+k+len(viaMarker)
		off = i + 1
		if i > 0 && v[i-1] != ' ' && v[i-1] != '\t' {
			continue
		}
		if j == len(v) || v[j] == ',' || v[j] == ' ' || v[j] == '\t' {
			return true
		}
	}
	return false
}
