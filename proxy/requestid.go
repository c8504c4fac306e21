package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

const maxRequestIDLen = 64

var headerRequestID = "X-Request-Id"

// requestIDPrefix makes generated ids unique across restarts and nodes; the
// counter after it makes them unique within the process without a random
// read per request.
var (
	requestIDPrefix [16]byte
	requestIDSeq    atomic.Uint64
)

func init() {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	hex.Encode(requestIDPrefix[:], b[:])
}

// validRequestID says whether a client-supplied X-Request-Id is a short safe
// token worth keeping: 1-64 bytes of letters, digits, '-', '_', '.', ':'.
// Anything else could smuggle text into logs and upstream headers.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// appendRequestID appends a new id: 16 hex digits of process prefix, '-', and
// 16 hex digits of sequence.
func appendRequestID(dst []byte) []byte {
	dst = append(dst, requestIDPrefix[:]...)
	dst = append(dst, '-')
	n := requestIDSeq.Add(1)
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexLower[(n>>uint(shift))&15])
	}
	return dst
}

// appendRequestIDFor appends the id an answer to h carries: the client's
// X-Request-Id when it is a valid token (validRequestID), a new one
// otherwise. For answers given outside the pipeline (fasthttp's parse
// errors, a refused Expect: 100-continue), which must echo the client's id
// like every other answer.
func appendRequestIDFor(dst []byte, h *fasthttp.RequestHeader) []byte {
	if id := h.Peek(headerRequestID); validRequestID(id) {
		return append(dst, id...)
	}
	return appendRequestID(dst)
}
