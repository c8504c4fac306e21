package proxy

import (
	"net/netip"

	"github.com/valyala/fasthttp"
)

// hopByHop are the headers that describe one connection, not the message:
// they are removed in both directions, after the headers the Connection
// header itself names (RFC 9110 §7.6.1). Transfer-Encoding is re-derived by
// fasthttp when the message is written; Upgrade is dropped because Sluice
// does not tunnel protocol switches.
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

// connectionTokens calls del for every header named in a Connection value and
// reports whether the value asked to close. The value is copied first: del
// edits the header buffer the value points into.
func connectionTokens(v []byte, del func(name []byte)) (closeAsked bool) {
	var buf [256]byte
	n := copy(buf[:], v)
	rest := buf[:n]
	for len(rest) > 0 {
		i := indexByte(rest, ',')
		tok := rest
		if i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		tok = trimOWS(tok)
		switch {
		case len(tok) == 0:
		case equalFoldASCII(tok, "close"):
			closeAsked = true
		case equalFoldASCII(tok, "keep-alive"):
		case equalFoldASCII(tok, "content-length"), equalFoldASCII(tok, "transfer-encoding"), equalFoldASCII(tok, "host"):
			// Framing and routing are not the client's to remove: deleting
			// Content-Length after the body was framed by it would send the
			// upstream a request without its body, and the body as the next.
		default:
			del(tok)
		}
	}
	return closeAsked
}

// stripRequestHopByHop removes connection-scoped headers from a request about
// to be forwarded and reports whether the client asked to close its
// connection, which the response must then honour.
func stripRequestHopByHop(h *fasthttp.RequestHeader) (clientClose bool) {
	clientClose = h.ConnectionClose()
	if v := h.Peek("Connection"); len(v) > 0 {
		if connectionTokens(v, h.DelBytes) {
			clientClose = true
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	// Upstream connections are pooled: never ask the upstream to close one
	// because the client closes its own.
	h.ResetConnectionClose()
	return clientClose
}

// stripResponseHopByHop does the same for the upstream's response.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	if v := h.Peek("Connection"); len(v) > 0 {
		connectionTokens(v, h.DelBytes)
	}
	for _, name := range hopByHop {
		if name == "Transfer-Encoding" {
			continue // fasthttp frames the body it writes; deleting would lose chunked framing of a stream
		}
		h.Del(name)
	}
	h.ResetConnectionClose()
}

// setForwarded adds X-Forwarded-For (the peer appended to what earlier
// proxies wrote), X-Forwarded-Proto ("http" or "https": the client
// connection's scheme) and X-Forwarded-Host. scratch is reused.
func setForwarded(h *fasthttp.RequestHeader, peer netip.Addr, host []byte, scratch []byte, proto string) []byte {
	b := scratch[:0]
	for _, v := range h.PeekAll("X-Forwarded-For") {
		v = trimOWS(v)
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
	b = peer.Unmap().AppendTo(b)
	h.SetBytesV("X-Forwarded-For", b)
	h.Set("X-Forwarded-Proto", proto)
	if len(host) > 0 {
		h.SetBytesV("X-Forwarded-Host", host)
	}
	return b
}

// clientIP is the socket peer, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For hop that is not itself trusted. A malformed hop
// stops the walk: everything left of it is unverifiable.
func clientIP(peer netip.Addr, h *fasthttp.RequestHeader, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if len(trusted) == 0 || !inPrefixes(peer, trusted) {
		return peer
	}
	all := h.PeekAll("X-Forwarded-For")
	ip := peer
	for vi := len(all) - 1; vi >= 0; vi-- {
		v := all[vi]
		end := len(v)
		for end > 0 {
			start := end - 1
			for start >= 0 && v[start] != ',' {
				start--
			}
			hop := trimOWS(v[start+1 : end])
			end = start
			if len(hop) == 0 {
				continue
			}
			a, err := netip.ParseAddr(b2s(hop))
			if err != nil {
				return ip
			}
			ip = a.Unmap()
			if !inPrefixes(ip, trusted) {
				return ip
			}
		}
	}
	return ip
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
