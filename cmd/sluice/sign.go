package main

// sluice sign: sign one request with an HMAC app key and secret
// (policy/casign, Alibaba-compatible) and print a ready curl command or the
// headers to send. A client-side tool; nothing here runs in the gateway.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/casign"
)

const signUsage = `usage: sluice sign -key APP_KEY (-secret-env NAME | -secret-file PATH | -secret SECRET)
                   -url http://host/path?query [flags]

Signs one request for an API with auth mode "hmac" and prints a curl command
(default, -curl) or the headers to send (-headers, one "Name: value" a line).
Prefer -secret-env or -secret-file: a -secret on the command line is visible
to other users in the process list. The secret is never printed.

flags:
  -key APP_KEY          app key, sent as X-Ca-Key (required)
  -secret-env NAME      read the app secret from environment variable NAME
  -secret-file PATH     read the app secret from a file (trailing newline trimmed)
  -secret SECRET        the app secret itself
  -url URL              absolute http:// or https:// URL, percent-encoded as sent (required)
  -method METHOD        HTTP method (default GET)
  -H 'Name: value'      a request header; repeatable
  -data STRING          request body
  -data-file PATH       request body read from a file (curl reads the same file)
  -content-type TYPE    Content-Type of the body (a form type signs its fields)
  -sign-headers A,B     further headers to sign besides X-Ca-*; repeatable
  -sha1                 sign with HmacSHA1 instead of HmacSHA256
  -nonce NONCE          X-Ca-Nonce (default: a random UUID)
  -timestamp MS         signing time in epoch milliseconds (default: now)
  -curl                 print a curl command (default)
  -headers              print the headers to send instead
`

// listFlag collects a repeatable flag; commas also separate values when
// split is set.
type listFlag struct {
	vals  []string
	split bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.split {
		l.vals = append(l.vals, v)
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.vals = append(l.vals, s)
		}
	}
	return nil
}

// signRequest is a parsed, validated sign command line.
type signRequest struct {
	key, url, method string
	secretInline     string
	secretRef        string // "env:NAME" or "file:PATH" for policy.ResolveSecret
	header           http.Header
	body             []byte
	bodyFile         string
	opts             casign.SignOptions
	headersOut       bool
}

// cmdSign runs "sluice sign". Exit codes: 0 printed, 1 signing failed (an
// unreadable secret or body file, an unsignable request), 2 usage error.
func cmdSign(args []string, stdout, stderr io.Writer) int {
	r, err := parseSignArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "sluice sign:", err)
		}
		fmt.Fprint(stderr, signUsage)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	out, err := r.run()
	if err != nil {
		fmt.Fprintln(stderr, "sluice sign:", err)
		return 1
	}
	_, _ = io.WriteString(stdout, out)
	return 0
}

func parseSignArgs(args []string, stderr io.Writer) (*signRequest, error) {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, with the usage, by cmdSign
	fs.Usage = func() {}
	key := fs.String("key", "", "")
	secret := fs.String("secret", "", "")
	secretEnv := fs.String("secret-env", "", "")
	secretFile := fs.String("secret-file", "", "")
	method := fs.String("method", "GET", "")
	rawURL := fs.String("url", "", "")
	var headers, signHeaders listFlag
	signHeaders.split = true
	fs.Var(&headers, "H", "")
	fs.Var(&signHeaders, "sign-headers", "")
	data := fs.String("data", "", "")
	dataFile := fs.String("data-file", "", "")
	contentType := fs.String("content-type", "", "")
	sha1 := fs.Bool("sha1", false, "")
	nonce := fs.String("nonce", "", "")
	timestamp := fs.String("timestamp", "", "")
	asCurl := fs.Bool("curl", false, "")
	asHeaders := fs.Bool("headers", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	r := &signRequest{key: *key, header: http.Header{}}
	if r.key == "" || strings.ContainsAny(r.key, " \t\r\n") {
		return nil, errors.New("-key is required and must not contain spaces")
	}
	n := 0
	for _, name := range []string{"secret", "secret-env", "secret-file"} {
		if set[name] {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, errors.New("give exactly one of -secret-env, -secret-file, -secret")
	case set["secret"]:
		if *secret == "" {
			return nil, errors.New("-secret is empty")
		}
		r.secretInline = *secret // literally, even if it starts with "env:"
	case set["secret-env"]:
		if *secretEnv == "" {
			return nil, errors.New("-secret-env needs a variable name")
		}
		r.secretRef = "env:" + *secretEnv
	default:
		if *secretFile == "" {
			return nil, errors.New("-secret-file needs a path")
		}
		r.secretRef = "file:" + *secretFile
	}

	r.url = *rawURL
	if err := checkSignURL(r.url); err != nil {
		return nil, err
	}
	r.method = strings.ToUpper(*method)
	if !validToken(r.method) {
		return nil, fmt.Errorf("-method %q is not an HTTP method", *method)
	}
	for _, h := range headers.vals {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validToken(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		if isSignatureHeader(name) {
			return nil, fmt.Errorf("-H %s: set by the signer, not by hand", name)
		}
		r.header.Add(name, value)
	}
	if *contentType != "" {
		if strings.ContainsAny(*contentType, "\r\n\x00") {
			return nil, errors.New("-content-type holds a line break")
		}
		if r.header.Get("Content-Type") != "" {
			return nil, errors.New("give Content-Type either as -content-type or as -H, not both")
		}
		r.header.Set("Content-Type", *contentType)
	}
	switch {
	case set["data"] && set["data-file"]:
		return nil, errors.New("give -data or -data-file, not both")
	case set["data"]:
		r.body = []byte(*data)
	case set["data-file"]:
		if *dataFile == "" {
			return nil, errors.New("-data-file needs a path")
		}
		r.bodyFile = *dataFile
	}
	for _, h := range signHeaders.vals {
		if !validToken(h) {
			return nil, fmt.Errorf("-sign-headers: %q is not a header name", h)
		}
	}
	r.opts.SignHeaders = signHeaders.vals
	if *sha1 {
		r.opts.Algorithm = casign.HmacSHA1
	}
	if set["nonce"] {
		if *nonce == "" || len(*nonce) > casign.MaxNonceLen || !validToken(*nonce) {
			return nil, fmt.Errorf("-nonce must be 1-%d token characters", casign.MaxNonceLen)
		}
		r.opts.Nonce = *nonce
	}
	if set["timestamp"] {
		ms, err := strconv.ParseInt(*timestamp, 10, 64)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("-timestamp %q: want epoch milliseconds", *timestamp)
		}
		r.opts.Time = time.UnixMilli(ms)
	}
	if *asCurl && *asHeaders {
		return nil, errors.New("give -curl or -headers, not both")
	}
	r.headersOut = *asHeaders
	return r, nil
}

// run reads the secret and body, signs, and renders the output.
func (r *signRequest) run() (string, error) {
	secret := r.secretInline
	if secret == "" {
		b, err := policy.ResolveSecret(r.secretRef)
		if err != nil {
			// ResolveSecret's errors name the variable or file, never the value.
			return "", err
		}
		secret = string(b)
	}
	var err error
	if r.bodyFile != "" {
		if r.body, err = os.ReadFile(r.bodyFile); err != nil {
			return "", fmt.Errorf("-data-file: %v", err)
		}
	}
	if len(r.body) > 0 && r.header.Get("Content-Type") == "" {
		// What curl would otherwise send for --data-binary, set before
		// signing so the signed value is the one on the wire.
		r.header.Set("Content-Type", "application/octet-stream")
	}
	s, err := casign.Sign(&casign.Outgoing{Method: r.method, URL: r.url, Header: r.header, Body: r.body}, r.key, secret, r.opts)
	if err != nil {
		return "", err
	}
	if r.headersOut {
		var b strings.Builder
		names := make([]string, 0, len(s.Header))
		for k := range s.Header {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range s.Header[k] {
				b.WriteString(k + ": " + v + "\n")
			}
		}
		return b.String(), nil
	}
	cmd, err := casign.CurlCommand(r.method, r.url, s.Header, r.body, casign.CurlOptions{BodyFile: r.bodyFile})
	if err != nil {
		if strings.Contains(err.Error(), "BodyFile") {
			return "", errors.New("this body cannot go on a curl command line; put it in a file and use -data-file")
		}
		return "", err
	}
	return cmd + "\n", nil
}

// checkSignURL admits absolute http(s) URLs that go on the wire unchanged:
// curl, with --path-as-is, sends exactly these bytes, which are the bytes
// signed.
func checkSignURL(u string) error {
	if u == "" {
		return errors.New("-url is required")
	}
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "https://"); !ok {
			return fmt.Errorf("-url %q: want http://host/path or https://host/path", u)
		}
	}
	if rest == "" || rest[0] == '/' || rest[0] == '?' {
		return fmt.Errorf("-url %q has no host", u)
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c == 0x7f || c == '#' || c >= 0x80 {
			return fmt.Errorf("-url %q: percent-encode spaces, control and non-ASCII characters; no fragment", u)
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (method, header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isSignatureHeader reports headers the signer sets itself.
func isSignatureHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "X-Ca-Key", "X-Ca-Signature", "X-Ca-Signature-Headers", "X-Ca-Signature-Method",
		"X-Ca-Timestamp", "X-Ca-Nonce":
		return true
	}
	return false
}
