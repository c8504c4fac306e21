package proxy

import (
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/): a valid
// traceparent keeps its trace id and flags and gets the gateway's own span id
// as parent-id, since Sluice is a hop of the trace; an absent or invalid one
// starts a new trace. tracestate passes through untouched.

const traceparentLen = 55 // "00-" 32 "-" 16 "-" 2

// propagateTrace sets the upstream traceparent and copies the trace id
// (32 lower-case hex digits) into dst.
func propagateTrace(h *fasthttp.RequestHeader, seen headerSet, dst *[32]byte) {
	var tp [traceparentLen]byte
	var in []byte
	if seen.has(seenTraceparent) {
		in = h.Peek("Traceparent")
	}
	if validTraceparent(in) {
		copy(tp[:], in[:traceparentLen])
		tp[0], tp[1] = '0', '0' // we speak version 00
	} else {
		copy(tp[:], "00-")
		appendHex64(tp[3:3], rand.Uint64())
		appendHex64(tp[19:19], rand.Uint64())
		tp[35] = '-'
		copy(tp[52:], "-01")
	}
	appendHex64(tp[36:36], rand.Uint64()|1) // never all-zero
	copy(dst[:], tp[3:35])
	h.SetCanonical(strTraceparent, tp[:])
}

func appendHex64(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexLower[(v>>uint(shift))&15])
	}
	return dst
}

// validTraceparent checks version-format-00 structure: lower-case hex
// fields, neither id all zeros, version not ff. Future versions may append
// fields after the 55 bytes; those are accepted and dropped.
func validTraceparent(b []byte) bool {
	if len(b) < traceparentLen || (len(b) > traceparentLen && b[traceparentLen] != '-') {
		return false
	}
	if b[2] != '-' || b[35] != '-' || b[52] != '-' {
		return false
	}
	if !isLowerHex(b[0:2]) || (b[0] == 'f' && b[1] == 'f') || (b[0] == '0' && b[1] == '0' && len(b) != traceparentLen) {
		return false
	}
	return isLowerHex(b[3:35]) && !allZero(b[3:35]) && isLowerHex(b[36:52]) && !allZero(b[36:52]) && isLowerHex(b[53:55])
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}
