package proxy

import (
	"github.com/sluicegw/sluice/policy/httpbytes"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/store/cache"
	"github.com/valyala/fasthttp"
)

// Response compression (issue 13): the response step after the cache store.
// fasthttp's helpers do the coding (klauspost/compress for gzip and zstd,
// its bundled Brotli encoder), with pooled writers.

var compressedTotal = [policy.NumEncodings]*metrics.Counter{
	policy.EncodingBrotli: metrics.NewCounter(`sluice_compressed_responses_total{encoding="br"}`),
	policy.EncodingZstd:   metrics.NewCounter(`sluice_compressed_responses_total{encoding="zstd"}`),
	policy.EncodingGzip:   metrics.NewCounter(`sluice_compressed_responses_total{encoding="gzip"}`),
}

var (
	strAcceptEncodingVary = []byte("Accept-Encoding")
	strWeak               = []byte("W/")
)

// s2b views s as bytes without copying; the bytes must not be written.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// negotiate picks the coding for an Accept-Encoding value (RFC 9110
// §12.5.3): the highest q-value among prefs, ties broken by prefs' order;
// "*" covers codings not named; q=0 refuses. No header, or nothing
// acceptable, is identity.
func negotiate(ae []byte, prefs []policy.Encoding) policy.Encoding {
	if len(ae) == 0 {
		return policy.EncodingIdentity
	}
	var q [policy.NumEncodings]int // -1: not named
	for i := range q {
		q[i] = -1
	}
	star := -1
	for i := 0; i < len(ae); {
		j := i
		for j < len(ae) && ae[j] != ',' {
			j++
		}
		name, qv := parseCoding(ae[i:j])
		i = j + 1
		switch {
		case len(name) == 1 && name[0] == '*':
			star = qv
		case httpbytes.EqualFoldString(name, "gzip") || httpbytes.EqualFoldString(name, "x-gzip"):
			q[policy.EncodingGzip] = qv
		case httpbytes.EqualFoldString(name, "br"):
			q[policy.EncodingBrotli] = qv
		case httpbytes.EqualFoldString(name, "zstd"):
			q[policy.EncodingZstd] = qv
		}
	}
	best, bestQ := policy.EncodingIdentity, 0
	for _, e := range prefs {
		v := q[e]
		if v < 0 {
			v = star
		}
		if v > bestQ {
			best, bestQ = e, v
		}
	}
	return best
}

// parseCoding splits "gzip;q=0.5" into the name and q in thousandths
// (1000 when absent; 0 when malformed, the safe reading).
func parseCoding(b []byte) ([]byte, int) {
	b = trimSpace(b)
	n := 0
	for n < len(b) && b[n] != ';' {
		n++
	}
	name := trimSpace(b[:n])
	q := 1000
	for rest := b[n:]; len(rest) > 0; {
		rest = rest[1:] // ';'
		k := 0
		for k < len(rest) && rest[k] != ';' {
			k++
		}
		p := trimSpace(rest[:k])
		rest = rest[k:]
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			q = parseQ(trimSpace(p[2:]))
		}
	}
	return name, q
}

func parseQ(v []byte) int {
	if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	q := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return q
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	m := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * m
		m /= 10
	}
	if q > 1000 {
		return 0
	}
	return q
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// appendEncoded compresses src onto dst.
func appendEncoded(dst, src []byte, enc policy.Encoding) []byte {
	switch enc {
	case policy.EncodingBrotli:
		return fasthttp.AppendBrotliBytesLevel(dst, src, fasthttp.CompressBrotliDefaultCompression)
	case policy.EncodingZstd:
		return fasthttp.AppendZstdBytesLevel(dst, src, fasthttp.CompressZstdDefault)
	case policy.EncodingGzip:
		return fasthttp.AppendGzipBytesLevel(dst, src, fasthttp.CompressDefaultCompression)
	}
	return append(dst, src...)
}

// compress is the response step after the cache store. A compressible
// answer (listed type, at least min_size, not streamed, no
// Content-Encoding yet, no no-transform) gets Vary: Accept-Encoding and,
// when the client accepts a coding, is compressed. When the answer is a
// cache entry served or stored by this request, the compressed form is
// stored as its variant, so the next hit sends it as it is.
func (s *Server) compress(ctx *fasthttp.RequestCtx, st *reqState) {
	z := st.api.Compression
	c := &st.c
	if z == nil || c.zstored {
		return
	}
	resp := &ctx.Response
	if resp.IsBodyStream() || len(resp.Header.ContentEncoding()) > 0 {
		return // streaming stays streaming; never compress twice
	}
	switch status := resp.StatusCode(); {
	case status < 200, status == 204, status == 206, status == 304:
		return
	}
	body := resp.Body()
	if len(body) < z.MinSize || !z.Compresses(resp.Header.ContentType()) {
		return
	}
	var d cache.Directives
	for _, v := range resp.Header.PeekAll(fasthttp.HeaderCacheControl) {
		cache.ParseCacheControl(&d, v)
	}
	if d.Flags&cache.CCNoTransform != 0 {
		return
	}
	addVary(&resp.Header)
	enc := c.enc
	if enc == policy.EncodingIdentity {
		return
	}
	out := appendEncoded(c.zbuf[:0], body, enc)
	c.zbuf = out
	if len(out) >= len(body) {
		return // incompressible: send as is
	}
	resp.SetBody(out)
	resp.Header.SetContentEncoding(enc.String())
	if et := resp.Header.Peek(fasthttp.HeaderETag); len(et) > 0 && et[0] == '"' {
		// Another representation: a strong validator must not match the
		// identity body (RFC 9110 §8.8.3).
		c.stBuf = append(append(c.stBuf[:0], strWeak...), et...)
		resp.Header.SetBytesV(fasthttp.HeaderETag, c.stBuf)
	}
	compressedTotal[enc].Inc()
	if c.storeZ && s.cache.store != nil && st.api.Cache != nil {
		s.storeCompressed(ctx, st)
	}
}

// addVary appends Accept-Encoding to Vary unless it is there.
func addVary(h *fasthttp.ResponseHeader) {
	for _, v := range h.PeekAll(fasthttp.HeaderVary) {
		if hasToken(v, "accept-encoding") || hasToken(v, "*") {
			return
		}
	}
	h.AddBytesKV(strVary, strAcceptEncodingVary)
}

// storeCompressed stores the compressed answer as a variant of the identity
// entry c.vkey, with its freshness and surrogate keys.
func (s *Server) storeCompressed(ctx *fasthttp.RequestCtx, st *reqState) {
	c := &st.c
	k := st.api.Cache
	resp := &ctx.Response
	tags := c.tags
	if !c.stored {
		tags = tagsFromHeader(c.entry.Header, k.TagHeader)
	}
	c.hdr = c.hdr[:0]
	for name, v := range resp.Header.All() {
		switch {
		case httpbytes.EqualFoldString(name, fasthttp.HeaderContentLength), httpbytes.EqualFoldString(name, "Age"),
			httpbytes.EqualFoldString(name, fasthttp.HeaderConnection), httpbytes.EqualFoldString(name, "Cache-Status"),
			httpbytes.EqualFoldString(name, "X-Request-Id"):
			continue
		}
		c.hdr = append(c.hdr, name...)
		c.hdr = append(c.hdr, 0)
		c.hdr = append(c.hdr, v...)
		c.hdr = append(c.hdr, 0)
	}
	e := cache.Entry{Meta: c.meta, Status: resp.StatusCode(), StoredAt: c.now, ETag: resp.Header.Peek(fasthttp.HeaderETag),
		Header: c.hdr, Body: resp.Body(), Tags: tags, Seq: c.seq}
	c.zkey = appendVariantEncoding(c.zkey[:0], c.vkey, c.enc)
	s.cache.store.Set(c.zkey, c.urlLen, &e)
}
