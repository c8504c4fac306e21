package casign

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// FuzzStringToSign builds the string to sign from arbitrary request parts
// through the fasthttp adapter and checks that nothing panics, that the
// result is deterministic, that it does not depend on the order of the
// parameters or signed headers (nor on whether a parameter came from the
// query or the form) when no key repeats, and that Verify copes.
func FuzzStringToSign(f *testing.F) {
	v := mustVerifier(f, Config{}, nil)
	f.Fuzz(func(t *testing.T, method, path, rawQuery, contentType, signedList, body string, rot uint8) {
		req := &fasthttp.Request{}
		req.Header.SetMethod(method)
		req.SetRequestURI(path + "?" + rawQuery)
		req.Header.SetContentType(contentType)
		req.Header.Set(HeaderSignatureHeaders, signedList)
		req.Header.Set(HeaderKey, "app-1")
		req.Header.Set(HeaderSignature, "c2lnbmF0dXJl")
		req.Header.Set(HeaderNonce, "n")
		req.Header.Set(HeaderTimestamp, "1772366400000")
		req.Header.Set("X-Ca-A", rawQuery)
		req.SetBodyString(body)

		r := AcquireRequest()
		defer ReleaseRequest(r)
		v.LoadFastHTTP(r, req)
		s1 := AppendStringToSign(nil, &r.Input)
		s2 := AppendStringToSign(nil, &r.Input)
		if !bytes.Equal(s1, s2) {
			t.Fatalf("not deterministic:\n%q\n%q", s1, s2)
		}
		if !bytes.HasPrefix(s1, appendUpper(nil, r.Method)) || bytes.Count(s1, []byte{'\n'}) < 5 {
			t.Fatalf("malformed: %q", s1)
		}

		// Same parts, parameters all in Query, reordered; headers reordered.
		params := append(slices.Clone(r.Query), r.Form...)
		hs := slices.Clone(r.Headers)
		if n := len(params); n > 0 {
			k := int(rot) % n
			params = append(params[k:], params[:k]...)
			if rot&1 == 1 {
				slices.Reverse(params)
			}
		}
		slices.Reverse(hs)
		perm := &Input{
			Method: r.Method, Accept: r.Accept, ContentMD5: r.ContentMD5, ContentType: r.ContentType,
			Date: r.Date, Headers: hs, Path: r.Path, Query: params,
		}
		s3 := AppendStringToSign(nil, perm)
		if !r.DuplicateKey() && !bytes.Equal(s1, s3) {
			t.Fatalf("order dependent:\n%q\n%q", s1, s3)
		}
		if r.DuplicateKey() != perm.DuplicateKey() {
			t.Fatal("duplicate detection depends on order")
		}

		_ = AppendDebugStringToSign(nil, &r.Input)
		if _, err := v.Verify(r, time.UnixMilli(1772366400000).UnixNano()); err == nil {
			t.Fatal("a request with a made-up signature verified")
		}
	})
}

// FuzzHTTPDate checks parseHTTPDate against time.Parse both ways. For the
// arbitrary string s: whatever parseHTTPDate accepts, Go accepts with the
// same instant, and it formats back to s (up to the day name, which neither
// checks against the date). For a date assembled from the numeric fields:
// when Go accepts it and the year is in range, parseHTTPDate must too.
func FuzzHTTPDate(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, year uint16, month, day, hour, minute, second uint8) {
		checkHTTPDate(t, s)
		months := "JanFebMarAprMayJunJulAugSepOctNovDec"
		m := int(month) % 13 // 12 gives an invalid month name
		name := "Foo"
		if m < 12 {
			name = months[3*m : 3*m+3]
		}
		d := fmt.Sprintf("Sun, %02d %s %04d %02d:%02d:%02d GMT", day%40, name, year%10000, hour%30, minute%70, second%70)
		checkHTTPDate(t, d)
		want, err := time.Parse(http.TimeFormat, d)
		if err == nil && want.Year() >= 1970 && want.Year() <= 2261 {
			if _, ok := parseHTTPDate([]byte(d)); !ok {
				t.Fatalf("time.Parse accepts %q, parseHTTPDate refuses", d)
			}
		}
	})
}

func checkHTTPDate(t *testing.T, s string) {
	got, ok := parseHTTPDate([]byte(s))
	if !ok {
		return
	}
	want, err := time.Parse(http.TimeFormat, s)
	if err != nil {
		t.Fatalf("accepted %q, time.Parse refuses: %v", s, err)
	}
	if got != want.UnixNano() {
		t.Fatalf("%q: got %d, want %d", s, got, want.UnixNano())
	}
	if back := time.Unix(0, got).UTC().Format(http.TimeFormat); back[3:] != s[3:] {
		t.Fatalf("%q formats back as %q", s, back)
	}
}
