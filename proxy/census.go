package proxy

import (
	"github.com/sluicegw/sluice/policy/httpbytes"
	"github.com/valyala/fasthttp"
)

// headerSet says which of the request headers the pipeline reads or
// replaces a request may carry: one bit per name in censusNames. It is taken
// in one pass over the parsed headers when the request arrives (issue 16).
// Every Peek, PeekAll and Del of fasthttp copies and normalizes its name and
// scans the headers; most requests carry none of these names, so a clear
// bit lets a step skip that work. A set bit only means "look": the header
// may have been removed since. Steps that add headers an operator names
// (auth's consumer headers, request transforms) mark every name as possibly
// present, so a clear bit always means absent.
type headerSet uint32

// The first bits are the hop-by-hop names in hopByHop's order.
const (
	seenForwardedFor headerSet = 1 << (len(hopByHop) + iota)
	seenForwardedProto
	seenForwardedHost
	seenVia
	seenTraceparent
	seenRequestID
	seenStage
	seenExpect
	seenConsumerName

	seenAll headerSet = 1<<32 - 1
)

// censusNames lists the names behind the bits, hopByHop first.
var censusNames = func() []string {
	names := append([]string(nil), hopByHop[:]...)
	return append(names, "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via", "Traceparent",
		headerRequestID, "X-Ca-Stage", "Expect", "X-Consumer-Name")
}()

// seenUpgrade is the bit of Upgrade, a WebSocket handshake's mark.
var seenUpgrade = func() headerSet {
	for i, name := range hopByHop {
		if name == "Upgrade" {
			return seenHop(i)
		}
	}
	panic("BUG: Upgrade is not in hopByHop")
}()

// seenHop is the bit of hopByHop[i].
func seenHop(i int) headerSet { return 1 << i }

func (s headerSet) has(bit headerSet) bool { return s&bit != 0 }

// censusRequest takes the census of h's header names.
func censusRequest(h *fasthttp.RequestHeader) headerSet {
	var seen headerSet
	for k := range h.All() {
		seen |= censusName(k)
	}
	return seen
}

// censusResponse takes the census of an upstream answer's header names (only
// the hop-by-hop bits are meaningful there).
func censusResponse(h *fasthttp.ResponseHeader) headerSet {
	var seen headerSet
	for k := range h.All() {
		seen |= censusName(k)
	}
	return seen
}

// censusName returns the bit of one header name, 0 when it is not a census
// name. Names are looked up by length first: most header names have a
// length no census name has, and the rest meet one or two candidates.
func censusName(k []byte) headerSet {
	if len(k) >= len(censusByLen) {
		return 0
	}
	for _, i := range censusByLen[len(k)] {
		if httpbytes.EqualFoldString(k, censusNames[i]) {
			return 1 << i
		}
	}
	return 0
}

// censusByLen lists, per name length, the indexes of census names of that
// length.
var censusByLen = func() (t [24][]uint8) {
	for i, name := range censusNames {
		t[len(name)] = append(t[len(name)], uint8(i))
	}
	return t
}()
