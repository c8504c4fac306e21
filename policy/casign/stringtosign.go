package casign

import (
	"cmp"
	"slices"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// AppendStringToSign appends the string to sign of in to dst:
//
//	METHOD\n Accept\n Content-MD5\n Content-Type\n Date\n
//	name:value\n ...            (signed headers, sorted by name)
//	path[?k=v&k&...]            (query+form params sorted by key)
//
// An absent part leaves its line empty. A parameter with an empty value is
// written as its key alone; one with an empty key is skipped (Alibaba's SDKs
// drop them). When a key repeats, only its first occurrence (query before
// form, then in request order) is written, as Alibaba's backend demo does
// with servlet parameter arrays; the Verifier rejects such requests unless
// configured otherwise. Keys are ordered like java.lang.String.compareTo
// (UTF-16 code units), the order of the TreeMap in Alibaba's Java SDK.
//
// It allocates only when in's scratch slices have to grow.
func AppendStringToSign(dst []byte, in *Input) []byte {
	dst = appendUpper(dst, in.Method)
	dst = append(dst, '\n')
	dst = append(dst, in.Accept...)
	dst = append(dst, '\n')
	dst = append(dst, in.ContentMD5...)
	dst = append(dst, '\n')
	dst = append(dst, in.ContentType...)
	dst = append(dst, '\n')
	dst = append(dst, in.Date...)
	dst = append(dst, '\n')
	dst = appendHeaders(dst, in)
	if len(in.Path) == 0 {
		dst = append(dst, '/')
	} else {
		dst = append(dst, in.Path...)
	}
	return appendParams(dst, in)
}

func appendHeaders(dst []byte, in *Input) []byte {
	hs := in.headers[:0]
	for _, h := range in.Headers {
		if len(h.Name) > 0 && !excludedHeader(h.Name) {
			hs = append(hs, h)
		}
	}
	in.headers = hs
	if in.HeaderNamesAsListed {
		slices.SortStableFunc(hs, cmpHeaderListed)
	} else {
		slices.SortStableFunc(hs, cmpHeaderFold)
	}
	for i, h := range hs {
		// A name listed twice is written once: the value is the same header.
		if i > 0 && httpbytes.EqualFold(h.Name, hs[i-1].Name) {
			continue
		}
		if in.HeaderNamesAsListed {
			dst = append(dst, h.Name...)
		} else {
			dst = httpbytes.AppendLower(dst, h.Name)
		}
		dst = append(dst, ':')
		dst = append(dst, h.Value...)
		dst = append(dst, '\n')
	}
	return dst
}

func appendParams(dst []byte, in *Input) []byte {
	ps := in.params[:0]
	for _, p := range in.Query {
		if len(p.Key) > 0 {
			ps = append(ps, p)
		}
	}
	for _, p := range in.Form {
		if len(p.Key) > 0 {
			ps = append(ps, p)
		}
	}
	in.params = ps
	in.dupKey = false
	if len(ps) == 0 {
		return dst
	}
	// Stable, so that among equal keys the first occurrence comes first.
	slices.SortStableFunc(ps, cmpParam)
	dst = append(dst, '?')
	for i, p := range ps {
		if i > 0 {
			if string(p.Key) == string(ps[i-1].Key) {
				in.dupKey = true
				continue
			}
			dst = append(dst, '&')
		}
		dst = append(dst, p.Key...)
		if len(p.Value) > 0 {
			dst = append(dst, '=')
			dst = append(dst, p.Value...)
		}
	}
	return dst
}

// DuplicateKey reports whether the last AppendStringToSign on in saw a
// parameter key more than once.
func (in *Input) DuplicateKey() bool { return in.dupKey }

func cmpParam(a, b Param) int { return compareJava(a.Key, b.Key) }

func cmpHeaderListed(a, b Header) int { return compareJava(a.Name, b.Name) }

func cmpHeaderFold(a, b Header) int {
	n := min(len(a.Name), len(b.Name))
	for i := range n {
		x, y := httpbytes.Lower(a.Name[i]), httpbytes.Lower(b.Name[i])
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return cmp.Compare(len(a.Name), len(b.Name))
}

// compareJava orders UTF-8 strings like Java's String.compareTo orders their
// UTF-16 forms. Byte order equals code point order, which differs from UTF-16
// order only between supplementary characters (4-byte UTF-8, lead F0-F4,
// surrogates D800-DFFF in UTF-16) and U+E000-U+FFFF (lead EE or EF): Java puts
// the supplementary ones first. At the first differing byte both strings are
// at a character boundary when a lead byte differs, so ranking EE and EF above
// all other bytes there yields exactly Java's order, and a total order for
// invalid UTF-8 too.
func compareJava(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return cmp.Compare(javaRank(a[i]), javaRank(b[i]))
		}
	}
	return cmp.Compare(len(a), len(b))
}

func javaRank(c byte) int {
	if c == 0xEE || c == 0xEF {
		return int(c) + 0x20 // above 0xFF
	}
	return int(c)
}

// excludedHeader reports whether Alibaba leaves name out of the signed
// header lines (the first five are already lines of their own).
func excludedHeader(name []byte) bool {
	switch len(name) {
	case 4:
		return httpbytes.EqualFoldASCII(name, "date")
	case 6:
		return httpbytes.EqualFoldASCII(name, "accept")
	case 11:
		return httpbytes.EqualFoldASCII(name, "content-md5")
	case 12:
		return httpbytes.EqualFoldASCII(name, "content-type")
	case 14:
		return httpbytes.EqualFoldASCII(name, "x-ca-signature")
	case 22:
		return httpbytes.EqualFoldASCII(name, "x-ca-signature-headers")
	}
	return false
}

func appendUpper(dst, s []byte) []byte {
	for _, c := range s {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// ErrorMessagePrefix starts the X-Ca-Error-Message value Alibaba's gateway
// sends on a signature mismatch; its SDKs parse the text after it.
const ErrorMessagePrefix = "Invalid Signature, Server StringToSign:"

// AppendDebugStringToSign appends the string to sign of in with each newline
// shown as '#', fit for the X-Ca-Error-Message response header (prefix it
// with ErrorMessagePrefix and wrap it in backquotes to match Alibaba).
// Other control bytes and DEL, which parameter values may carry after URL
// decoding, become '?' so the result is always a valid header value.
func AppendDebugStringToSign(dst []byte, in *Input) []byte {
	start := len(dst)
	dst = AppendStringToSign(dst, in)
	for i := start; i < len(dst); i++ {
		switch c := dst[i]; {
		case c == '\n':
			dst[i] = '#'
		case c < 0x20 || c == 0x7f:
			dst[i] = '?'
		}
	}
	return dst
}

// DebugStringToSign is AppendDebugStringToSign into a new string.
func DebugStringToSign(in *Input) string {
	return string(AppendDebugStringToSign(nil, in))
}
