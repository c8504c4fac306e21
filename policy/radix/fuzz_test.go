package radix

import (
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"
)

// sampleMatch builds a short string the regex matches, or ok=false; callers verify it with the matcher
// because anchors and word boundaries are ignored here.
func sampleMatch(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune), true
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return "", false
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < re.Rune[i]+4; r++ {
				if r != '/' && utf8.ValidRune(r) {
					return string(r), true
				}
			}
		}
		return "", false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return "a", true
	case syntax.OpCapture, syntax.OpPlus:
		return sampleMatch(re.Sub[0])
	case syntax.OpRepeat:
		s, ok := sampleMatch(re.Sub[0])
		return strings.Repeat(s, re.Min), ok
	case syntax.OpConcat:
		var b strings.Builder
		for _, s := range re.Sub {
			x, ok := sampleMatch(s)
			if !ok {
				return "", false
			}
			b.WriteString(x)
		}
		return b.String(), true
	case syntax.OpAlternate:
		return sampleMatch(re.Sub[0])
	case syntax.OpNoMatch:
		return "", false
	}
	return "", true // star, quest, empty match, anchors, word boundaries
}

// FuzzTemplate: Add never panics, and an accepted template matches a path built from it, capturing the
// values it was built with.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/", "/a/{id}", "/a/{id:[0-9]+}/b", "/{p:*}", "/x/{a}/{b:v[0-9]}/{c:*}", "/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tpl string) {
		tr := New[int]()
		if err := tr.Add("GET", tpl, 7); err != nil {
			return
		}
		tr.Freeze()
		segs, err := parseTemplate(tpl, nil)
		if err != nil {
			t.Fatalf("Add accepted %q but parseTemplate fails: %v", tpl, err)
		}
		var path strings.Builder
		var names, values []string
		for i, s := range segs {
			path.WriteByte('/')
			v := ""
			switch s.kind {
			case segStatic:
				path.WriteString(s.text)
				continue
			case segCatchAll:
				v = "c/d"
			case segParam:
				v = "p"
				if s.m != nil {
					re, err := syntax.Parse(s.pattern, syntax.Perl)
					if err != nil {
						t.Fatalf("accepted regex %q does not parse: %v", s.pattern, err)
					}
					var ok bool
					if v, ok = sampleMatch(re); !ok || strings.IndexByte(v, '/') >= 0 || !s.m.match([]byte(v)) {
						return
					}
					if v == "" && i == len(segs)-1 {
						return // an empty last segment never matches a parameter, by design
					}
				}
			}
			path.WriteString(v)
			names, values = append(names, s.name), append(values, v)
		}
		p := []byte(path.String())
		var ps Params
		got, found, _ := tr.Lookup([]byte("GET"), p, &ps)
		if !found || got != 7 {
			t.Fatalf("template %q does not match %q", tpl, p)
		}
		if ps.Len() != len(names) {
			t.Fatalf("template %q path %q: %d params, want %d", tpl, p, ps.Len(), len(names))
		}
		for i := range names {
			if ps.Name(i) != names[i] || string(ps.Value(i, p)) != values[i] {
				t.Fatalf("template %q path %q: param %d = %s=%q, want %s=%q", tpl, p, i, ps.Name(i), ps.Value(i, p), names[i], values[i])
			}
		}
	})
}

var fuzzRoutes = []string{
	"GET /", "GET /v1/users/{id}", "GET /v1/users/me", "POST /v1/users/{id}", "GET /v1/orders/{id:[0-9]+}/items",
	"GET /v1/orders/{ref}/items/", "GET /v1/tags/{tag:(?:v[0-9]+|latest)}", "GET /static/{path:*}", "GET /static",
	"* /any/{x}/{y}", "DELETE /v1/users/{id}/sessions/{sid:[a-f0-9]{8}}", "GET /{all:*}", "PURGE /cache/{key}",
	"GET /a/{b}/c/{d}/e/{f}/g/{h}/i/{j}/k/{l}/m/{n}/o/{p}/q/{r}/s/{t}/u/{v}/w/{x:*}",
}

// FuzzLookup: Lookup never panics, parameters lie within the path, and a match is consistent: putting the
// captured values back into the matched template gives the path again.
func FuzzLookup(f *testing.F) {
	tr := New[string]()
	for _, r := range fuzzRoutes {
		m, tpl, _ := strings.Cut(r, " ")
		if err := tr.Add(m, tpl, tpl); err != nil {
			f.Fatal(err)
		}
	}
	tr.Freeze()
	f.Add("GET", []byte("/v1/users/42"))
	f.Add("PUT", []byte("/v1/orders/7/items"))
	f.Fuzz(func(t *testing.T, method string, path []byte) {
		var ps Params
		tpl, found, allow := tr.Lookup([]byte(method), path, &ps)
		if !found {
			if ps.Len() != 0 {
				t.Fatalf("%d params left on a miss", ps.Len())
			}
			if allow != "" && (len(path) == 0 || path[0] != '/') {
				t.Fatalf("allow %q for a path without '/'", allow)
			}
			return
		}
		if allow != "" {
			t.Fatalf("allow %q on a match", allow)
		}
		if ps.Len() > MaxParams {
			t.Fatalf("%d params", ps.Len())
		}
		for i := 0; i < ps.Len(); i++ {
			s, e := ps.Span(i)
			if s < 0 || s > e || e > len(path) {
				t.Fatalf("param %d span [%d,%d) outside path of %d bytes", i, s, e, len(path))
			}
		}
		segs, err := parseTemplate(tpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, s := range segs {
			b.WriteByte('/')
			if s.kind == segStatic {
				b.WriteString(s.text)
				continue
			}
			v, ok := ps.Get(s.name, path)
			if !ok {
				t.Fatalf("template %s: parameter %s not captured", tpl, s.name)
			}
			if s.m != nil && !s.m.match(v) {
				t.Fatalf("template %s: %s=%q does not match its regex", tpl, s.name, v)
			}
			b.Write(v)
		}
		if b.String() != string(path) {
			t.Fatalf("template %s with captured values gives %q, not the path %q", tpl, b.String(), path)
		}
	})
}
