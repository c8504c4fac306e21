package casign

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// CurlOptions tunes CurlCommand.
type CurlOptions struct {
	// BodyFile, when set, makes curl read the body from this file
	// (--data-binary @file) instead of the command line; required for bodies
	// holding NUL bytes.
	BodyFile string
}

// CurlCommand renders a ready-to-run curl command line for a signed request:
// every argument shell-quoted for POSIX shells, headers sorted, the path sent
// as-is (--path-as-is), and curl's own Accept (and, with a body,
// Content-Type) suppressed when the request has none, since curl would
// otherwise add values the signature did not cover. rawURL must be absolute.
func CurlCommand(method, rawURL string, h http.Header, body []byte, opts CurlOptions) (string, error) {
	if !strings.Contains(rawURL, "://") {
		return "", errors.New("casign: curl needs an absolute URL")
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = http.MethodGet
	}
	args := []string{"curl", "--path-as-is"}
	if method == http.MethodHead {
		args = append(args, "--head")
	} else {
		args = append(args, "-X", method)
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range h[k] {
			if strings.ContainsAny(k+v, "\r\n\x00") {
				return "", errors.New("casign: header " + k + " holds a line break or NUL")
			}
			v = strings.TrimSpace(v)
			if v == "" {
				args = append(args, "-H", k+";") // curl's syntax for an empty value
			} else {
				args = append(args, "-H", k+": "+v)
			}
		}
	}
	if len(h.Values("Accept")) == 0 {
		args = append(args, "-H", "Accept:")
	}
	switch {
	case opts.BodyFile != "":
		args = append(args, "--data-binary", "@"+opts.BodyFile)
	case strings.IndexByte(string(body), 0) >= 0:
		return "", errors.New("casign: body holds NUL bytes; set CurlOptions.BodyFile")
	case len(body) > 0:
		if body[0] == '@' {
			// curl reads "@name" as a file name; feed such a body on stdin.
			return "", errors.New("casign: body starts with '@'; set CurlOptions.BodyFile")
		}
		args = append(args, "--data-binary", string(body))
	}
	if (len(body) > 0 || opts.BodyFile != "") && len(h.Values("Content-Type")) == 0 {
		args = append(args, "-H", "Content-Type:")
	}
	args = append(args, rawURL)
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ShellQuote(a))
	}
	return b.String(), nil
}

// ShellQuote quotes s for POSIX shells: unchanged when it holds only
// characters no shell treats specially, else in single quotes with each
// embedded single quote written as '\”.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+=@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
