package cache

import "github.com/sluicegw/sluice/policy/httpbytes"

// Conditional requests answered from the cache (RFC 9110 §13.1.2, §13.1.3,
// §13.2.2; RFC 9111 §4.3.2) and invalidation after unsafe methods (RFC 9111
// §4.4). Allocation-free: the lookup step runs these on hits.

// NotModified reports whether a GET or HEAD carrying these conditional
// fields gets a 304 from the stored answer e instead of the full answer.
// If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2); it matches
// with the weak comparison ("*" matches any stored answer). If-Modified-Since
// is evaluated only when it is one valid HTTP-date, against the stored
// Last-Modified, or Date when there is none (RFC 9111 §4.3.2). Only a stored
// 200 turns into a 304. Pass nil for an absent field.
func NotModified(e *Entry, ifNoneMatch, ifModifiedSince []byte, now int64) bool {
	if e.Status != 200 {
		return false
	}
	if ifNoneMatch != nil {
		return etagListMatches(ifNoneMatch, e.ETag)
	}
	if ifModifiedSince == nil {
		return false
	}
	t, ok := ParseHTTPDate(ifModifiedSince, now)
	if !ok {
		return false
	}
	lm := e.LastModified
	if lm == 0 {
		lm = e.Date
	}
	return lm <= t
}

// etagListMatches reports whether the If-None-Match list matches etag by
// weak comparison: opaque tags equal, W/ prefixes ignored.
func etagListMatches(list, etag []byte) bool {
	list = httpbytes.TrimOWS(list)
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	want, ok := opaqueTag(httpbytes.TrimOWS(etag))
	if !ok {
		return false
	}
	i := 0
	for i < len(list) {
		for i < len(list) && (list[i] == ' ' || list[i] == '\t' || list[i] == ',') {
			i++
		}
		start := i
		if i+1 < len(list) && list[i] == 'W' && list[i+1] == '/' {
			i += 2
		}
		if i >= len(list) || list[i] != '"' {
			// Not an entity-tag: skip the member.
			for i < len(list) && list[i] != ',' {
				i++
			}
			continue
		}
		i++
		for i < len(list) && list[i] != '"' {
			i++
		}
		if i >= len(list) {
			return false // unterminated
		}
		i++
		if got, ok := opaqueTag(list[start:i]); ok && string(got) == string(want) {
			return true
		}
	}
	return false
}

// opaqueTag strips W/ from an entity-tag and returns the quoted part.
func opaqueTag(t []byte) ([]byte, bool) {
	if len(t) >= 2 && t[0] == 'W' && t[1] == '/' {
		t = t[2:]
	}
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return nil, false
	}
	for _, c := range t[1 : len(t)-1] {
		if c == '"' {
			return nil, false
		}
	}
	return t, true
}

// InvalidatesOnUnsafe reports whether an answer to method invalidates the
// stored answers for its URL (RFC 9111 §4.4): an unsafe method (anything but
// GET, HEAD, OPTIONS and TRACE) answered with a non-error status (2xx, 3xx).
func InvalidatesOnUnsafe(method []byte, status int) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return status >= 200 && status < 400
}
