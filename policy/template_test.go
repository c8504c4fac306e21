package policy

import (
	"strings"
	"testing"

	"github.com/sluicegw/sluice/policy/radix"
)

func expand(t *testing.T, route, backendPath, path, query string) string {
	t.Helper()
	tree := radix.New[int]()
	if err := tree.Add("GET", route, 1); err != nil {
		t.Fatal(err)
	}
	tree.Freeze()
	var ps radix.Params
	if _, ok, _ := tree.Lookup([]byte("GET"), []byte(path), &ps); !ok {
		t.Fatalf("%s does not match %s", path, route)
	}
	names, catchAll, err := templateParams(route)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := compileBackendPath(backendPath, names, catchAll)
	if err != nil {
		t.Fatal(err)
	}
	return string(tpl.AppendExpand(nil, &ps, []byte(path), []byte(query)))
}

func TestBackendPathExpand(t *testing.T) {
	cases := []struct{ route, bp, path, query, want string }{
		{"/users/{id}", "/user?id={id}", "/users/42", "", "/user?id=42"},
		{"/users/{id}", "/user?id={id}", "/users/42", "x=1", "/user?id=42&x=1"},
		{"/users/{id}", "/v1/users/{id}/profile", "/users/a b", "", "/v1/users/a%20b/profile"},
		{"/users/{id}", "/u?q={id}", "/users/a&b=c", "", "/u?q=a%26b%3Dc"},
		{"/files/{rest:*}", "/static/{rest}", "/files/a/b/c.txt", "v=2", "/static/a/b/c.txt?v=2"},
		{"/files/{rest:*}", "/static/{rest}", "/files/", "", "/static/"},
		{"/a/{x}/{y:[0-9]+}", "/{y}/{x}", "/a/left/7", "", "/7/left"},
		{"/x", "/y?", "/x", "q=1", "/y?q=1"},
	}
	for _, c := range cases {
		if got := expand(t, c.route, c.bp, c.path, c.query); got != c.want {
			t.Errorf("%s -> %s with %s?%s: got %q want %q", c.route, c.bp, c.path, c.query, got, c.want)
		}
	}
}

func TestBackendPathErrors(t *testing.T) {
	for bp, want := range map[string]string{
		"user":          "must start with '/'",
		"/u/{missing}":  "not captured",
		"/u/{id":        "unbalanced",
		"/u/id}":        "unexpected '}'",
		"/u/ space":     "must not contain",
		"/u#frag":       "must not contain",
		"/u/\r\nX-A: b": "must not contain",
	} {
		_, err := compileBackendPath(bp, []string{"id"}, []bool{false})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", bp, err, want)
		}
	}
}

func TestSubstituteVars(t *testing.T) {
	got, missing := substituteVars("${a}-${b}-${a}", map[string]string{"a": "1"})
	if got != "1--1" || len(missing) != 1 || missing[0] != "b" {
		t.Fatalf("%q %v", got, missing)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10MiB": 10 << 20, "512KiB": 512 << 10, "1GB": 1e9, "4096": 4096, "0": 0, "3 B": 3, "1TiB": 1 << 40, "10 MiB": 10 << 20} {
		got, err := ParseSize(in)
		if err != nil || int64(got) != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "-1", "10 parsecs", "99999999999TiB", "2TiB", "10  MiB", " 1", "1mib"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10MiB", "1GB", "4096", "", "1 KiB", "99999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err == nil && v < 0 {
			t.Fatalf("%q parsed to negative %d", s, v)
		}
	})
}

// FuzzBackendPath: any template either fails to compile or expands without
// panicking into a URI with no raw spaces or control characters.
func FuzzBackendPath(f *testing.F) {
	f.Add("/user?id={id}", "a b&c")
	f.Add("/{id}/{id}?x={id}&y", "é/%")
	f.Add("/{", "")
	f.Fuzz(func(t *testing.T, bp, value string) {
		tpl, err := compileBackendPath(bp, []string{"id"}, []bool{false})
		if err != nil {
			return
		}
		var ps radix.Params
		tree := radix.New[int]()
		_ = tree.Add("GET", "/p/{id:*}", 1)
		tree.Freeze()
		path := "/p/" + value
		if _, ok, _ := tree.Lookup([]byte("GET"), []byte(path), &ps); !ok {
			return
		}
		out := tpl.AppendExpand(nil, &ps, []byte(path), nil)
		for _, c := range out[len(strings.SplitN(bp, "{", 2)[0]):] {
			if c <= ' ' || c == 0x7f {
				t.Fatalf("unescaped byte %q in %q", c, out)
			}
		}
	})
}

// FuzzParseConfig: no input makes Parse or Compile panic, and every error
// Compile reports names a place in the file.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("[server]\nlisten = [\"127.0.0.1:1\"]\n"))
	f.Add([]byte("[[groups]]\nname = \"g\"\n[[groups.apis]]\nname = \"a\"\npath = \"/{x}\"\nbackend = \"b\"\n"))
	f.Add([]byte("[[backends]]\nname = \"b\"\ntargets = [{ url = \"http://x:1\" }]\n[backends.mock]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.toml", data)
		if err != nil {
			return
		}
		_, _ = Compile(p, Options{})
	})
}
