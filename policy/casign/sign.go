package casign

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// SignOptions tunes client-side signing. The zero value signs with
// HmacSHA256, the current time, a random UUIDv4 nonce, and a Content-MD5 for
// bodies other than forms.
type SignOptions struct {
	Algorithm Algorithm // HmacSHA256 (default) or HmacSHA1
	// SignHeaders names headers to sign besides every X-Ca-* header. Each
	// must be set on the request, except Host, which defaults to the URL's.
	// Accept, Content-MD5, Content-Type and Date are always signed on their
	// own lines and are ignored here.
	SignHeaders []string
	Time        time.Time // signing time; zero means time.Now()
	Nonce       string    // X-Ca-Nonce; empty means a random UUIDv4
	// OmitContentMD5 leaves out the Content-MD5 header that otherwise binds
	// a non-form body to the signature. Form bodies are signed as
	// parameters and never get one.
	OmitContentMD5 bool
}

// Outgoing is a request to sign, independent of any HTTP client.
type Outgoing struct {
	Method string // upper-cased; empty means GET
	// URL is absolute ("https://host/p?q=1") or origin-form ("/p?q=1"), and
	// already percent-encoded exactly as it will go on the request line.
	URL    string
	Header http.Header // may be nil; not modified
	Body   []byte
}

// Signed is the result of Sign.
type Signed struct {
	// Header is Outgoing.Header plus the headers Sign set: X-Ca-Key,
	// X-Ca-Timestamp, X-Ca-Nonce, X-Ca-Signature-Method,
	// X-Ca-Signature-Headers, X-Ca-Signature and maybe Content-MD5.
	Header       http.Header
	Added        []string // canonical names of the headers Sign set
	StringToSign string   // for debugging; compare with X-Ca-Error-Message
}

// Sign signs out with the app key and secret. The secret is used only to
// compute the MAC and never appears in the result.
func Sign(out *Outgoing, key, secret string, opts SignOptions) (*Signed, error) {
	if key == "" || secret == "" {
		return nil, errors.New("casign: Sign needs an app key and a secret")
	}
	if opts.Algorithm != HmacSHA256 && opts.Algorithm != HmacSHA1 {
		return nil, errors.New("casign: unknown signature algorithm")
	}
	method := strings.ToUpper(out.Method)
	if method == "" {
		method = http.MethodGet
	}
	host, path, rawQuery := splitURL(out.URL)
	h := out.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	for _, name := range []string{HeaderSignature, HeaderSignatureHeaders} {
		h.Del(name)
	}
	t := opts.Time
	if t.IsZero() {
		t = time.Now()
	}
	nonce := opts.Nonce
	if nonce == "" {
		nonce = newUUID()
	}
	added := []string{HeaderKey, HeaderTimestamp, HeaderNonce, HeaderSignatureMethod}
	h.Set(HeaderKey, key)
	h.Set(HeaderTimestamp, strconv.FormatInt(t.UnixMilli(), 10))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignatureMethod, opts.Algorithm.String())
	form := isFormContentType([]byte(h.Get(fasthttp.HeaderContentType)))
	if len(out.Body) > 0 && !form && !opts.OmitContentMD5 && h.Get(headerContentMD5) == "" {
		sum := md5.Sum(out.Body)
		h.Set(headerContentMD5, base64.StdEncoding.EncodeToString(sum[:]))
		added = append(added, headerContentMD5)
	}

	in := &Input{
		Method:      []byte(method),
		Accept:      []byte(get(h, fasthttp.HeaderAccept)),
		ContentMD5:  []byte(get(h, headerContentMD5)),
		ContentType: []byte(get(h, fasthttp.HeaderContentType)),
		Date:        []byte(get(h, fasthttp.HeaderDate)),
		Path:        []byte(path),
	}
	names, err := signedNames(h, host, opts.SignHeaders)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		v := get(h, n)
		if n == "host" && v == "" {
			v = host
		}
		in.Headers = append(in.Headers, Header{Name: []byte(n), Value: []byte(v)})
	}
	var q, f fasthttp.Args
	q.Parse(rawQuery)
	for k, v := range q.All() {
		in.Query = append(in.Query, Param{Key: k, Value: v})
	}
	if form {
		f.ParseBytes(out.Body)
		for k, v := range f.All() {
			in.Form = append(in.Form, Param{Key: k, Value: v})
		}
	}
	sts := AppendStringToSign(nil, in)
	sig := NewSecret([]byte(secret)).AppendSignature(nil, opts.Algorithm, sts)
	h.Set(HeaderSignatureHeaders, strings.Join(names, ","))
	h.Set(HeaderSignature, string(sig))
	added = append(added, HeaderSignatureHeaders, HeaderSignature)
	for i, n := range added {
		added[i] = textproto.CanonicalMIMEHeaderKey(n) // "Content-Md5"
	}
	return &Signed{Header: h, Added: added, StringToSign: string(sts)}, nil
}

// signedNames returns the lower-cased, sorted, unique names to sign.
func signedNames(h http.Header, host string, extra []string) ([]string, error) {
	var names []string
	for k := range h {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-ca-") && !excludedHeader([]byte(l)) {
			names = append(names, l)
		}
	}
	for _, k := range extra {
		l := strings.ToLower(strings.TrimSpace(k))
		if l == "" || excludedHeader([]byte(l)) {
			continue
		}
		if _, ok := h[textproto.CanonicalMIMEHeaderKey(l)]; !ok && !(l == "host" && host != "") {
			return nil, fmt.Errorf("casign: header %q to sign is not set on the request", k)
		}
		names = append(names, l)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// get returns the first value of a header trimmed as HTTP clients and
// servers trim it.
func get(h http.Header, name string) string {
	return textproto.TrimString(h.Get(name))
}

// splitURL returns the authority, raw path (at least "/") and raw query of
// an absolute or origin-form URL; a fragment is dropped.
func splitURL(u string) (host, path, query string) {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 && !strings.ContainsAny(u[:i], "/?") {
		u = u[i+3:]
		j := strings.IndexAny(u, "/?")
		if j < 0 {
			j = len(u)
		}
		host, u = u[:j], u[j:]
		if k := strings.LastIndexByte(host, '@'); k >= 0 {
			host = host[k+1:]
		}
	}
	path, query, _ = strings.Cut(u, "?")
	if path == "" {
		path = "/"
	}
	return host, path, query
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// SignRequest signs req in place for net/http. It reads the body (and
// replaces it with an in-memory copy) and signs the request line exactly as
// net/http's transport writes it, req.URL.RequestURI().
func SignRequest(req *http.Request, key, secret string, opts SignOptions) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return fmt.Errorf("casign: reading body: %w", err)
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	uri := req.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") {
		return fmt.Errorf("casign: cannot sign request URI %q", uri)
	}
	// net/http sends req.Host (or the URL's), never Header["Host"]; sign that.
	h := req.Header.Clone()
	h.Del("Host")
	out := &Outgoing{Method: req.Method, URL: "http://" + host + uri, Header: h, Body: body}
	s, err := Sign(out, key, secret, opts)
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	for _, n := range s.Added {
		req.Header.Set(n, s.Header.Get(n))
	}
	return nil
}

// SignFastHTTP signs req in place for fasthttp's client, signing the path and
// query exactly as fasthttp writes them on the request line. A request with
// a body and no Content-Type gets "application/octet-stream" set explicitly,
// the value fasthttp would otherwise add on the wire after signing.
func SignFastHTTP(req *fasthttp.Request, key, secret string, opts SignOptions) error {
	if len(req.Body()) > 0 && len(req.Header.ContentType()) == 0 {
		req.Header.SetContentType("application/octet-stream")
	}
	h := http.Header{}
	for k, v := range req.Header.All() {
		h.Add(string(k), string(v))
	}
	u := req.URI()
	host := string(req.Header.Host())
	if host == "" {
		host = string(u.Host())
	}
	out := &Outgoing{
		Method: string(req.Header.Method()),
		URL:    "http://" + host + string(u.RequestURI()),
		Header: h,
		Body:   req.Body(),
	}
	s, err := Sign(out, key, secret, opts)
	if err != nil {
		return err
	}
	for _, n := range s.Added {
		req.Header.Set(n, s.Header.Get(n))
	}
	return nil
}
