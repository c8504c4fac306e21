package params

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/valyala/fasthttp"
)

// pathVals is a test PathParams; a pointer, as the router's will be, so
// passing it as an interface does not box a copy.
type pathVals struct{ v [][]byte }

func (p *pathVals) PathParam(i int) []byte { return p.v[i] }

func pv(vals ...string) *pathVals {
	p := &pathVals{}
	for _, v := range vals {
		p.v = append(p.v, []byte(v))
	}
	return p
}

// template resolves names of the route "/users/{id}/posts/{slug}".
func template(name string) (int, bool) {
	switch name {
	case "id":
		return 0, true
	case "slug":
		return 1, true
	}
	return 0, false
}

func f64(v float64) *float64 { return &v }

// typical is the three-parameter API of the allocation test.
func typical() Config {
	return Config{
		MaxBodySize: 1 << 10,
		Params: []Param{
			{Name: "limit", In: "query", Type: "int", Min: f64(1), Max: f64(100), Default: "20"},
			{Name: "X-Mode", In: "header", Type: "enum", Values: []string{"fast", "safe"}, Required: true},
			{Name: "id", In: "path", Regex: `[a-z0-9]{3,12}`},
		},
	}
}

func mustCompile(t testing.TB, cfg Config) *Validator {
	t.Helper()
	v, err := Compile(cfg, template)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return v
}

func newReq(uri string, headers ...string) *fasthttp.Request {
	req := &fasthttp.Request{}
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func errMsg(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidateTypical(t *testing.T) {
	v := mustCompile(t, typical())
	ok := pv("abc123")
	cases := []struct {
		uri, mode string
		path      *pathVals
		want      string
	}{
		{"http://h/users/abc123?limit=5", "fast", ok, ""},
		{"http://h/users/abc123?limit=1", "safe", ok, ""},
		{"http://h/users/abc123?limit=100", "safe", ok, ""},
		{"http://h/users/abc123", "safe", ok, ""},
		{"http://h/users/abc123?limit=101", "fast", ok, `parameter "limit" (query): must be <= 100`},
		{"http://h/users/abc123?limit=0", "fast", ok, `parameter "limit" (query): must be >= 1`},
		{"http://h/users/abc123?limit=ten", "fast", ok, `parameter "limit" (query): must be an integer`},
		{"http://h/users/abc123?limit=", "fast", ok, `parameter "limit" (query): must be an integer`},
		{"http://h/users/abc123?limit=5&limit=500", "fast", ok, `parameter "limit" (query): must not be repeated`},
		{"http://h/users/abc123?limit=5", "", ok, `parameter "X-Mode" (header): is required`},
		{"http://h/users/abc123?limit=5", "slow", ok, `parameter "X-Mode" (header): must be one of "fast", "safe"`},
		{"http://h/users/AB?limit=5", "fast", pv("AB"), `parameter "id" (path): must match regex "[a-z0-9]{3,12}"`},
		{"http://h/users/x?limit=5", "fast", pv("abc123x\n"), `parameter "id" (path): must match regex "[a-z0-9]{3,12}"`},
	}
	for _, c := range cases {
		req := newReq(c.uri)
		if c.mode != "" {
			req.Header.Set("x-mode", c.mode)
		}
		err := v.Validate(req, c.path)
		if errMsg(err) != c.want {
			t.Errorf("%s mode=%q path=%v: got %q, want %q", c.uri, c.mode, c.path, errMsg(err), c.want)
		}
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Status != 400 || pe.Code != "InvalidParameter") {
			t.Errorf("error %#v", err)
		}
	}
}

func TestDefaultsReachBackend(t *testing.T) {
	v := mustCompile(t, Config{Params: []Param{
		{Name: "limit", In: "query", Type: "int", Default: "20"},
		{Name: "X-Tenant", In: "header", Default: "public"},
	}})
	req := newReq("http://backend.test/list?q=a%20b")
	if err := v.Validate(req, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := req.Write(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	wire := buf.String()
	if !strings.HasPrefix(wire, "GET /list?q=a%20b&limit=20 HTTP/1.1\r\n") || !strings.Contains(wire, "\r\nX-Tenant: public\r\n") {
		t.Fatalf("defaults not on the wire:\n%s", wire)
	}
	// present values are left alone, and so is the query's encoding
	req = newReq("http://backend.test/list?q=a%20b&limit=7", "X-Tenant", "acme")
	if err := v.Validate(req, nil); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	w.Reset(&buf)
	if err := req.Write(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if !strings.HasPrefix(buf.String(), "GET /list?q=a%20b&limit=7 HTTP/1.1\r\n") {
		t.Fatalf("query rewritten:\n%s", buf.String())
	}
	if string(req.URI().QueryArgs().Peek("limit")) != "7" || string(req.Header.Peek("X-Tenant")) != "acme" {
		t.Fatal("present values overwritten")
	}
}

func TestBodyLimit(t *testing.T) {
	v := mustCompile(t, Config{MaxBodySize: 10})
	req := newReq("http://h/")
	req.SetBodyString("0123456789")
	if err := v.Validate(req, nil); err != nil {
		t.Fatalf("at limit: %v", err)
	}
	req.SetBodyString("0123456789a")
	err := v.Validate(req, nil)
	var pe *Error
	if !errors.Is(err, ErrBodyTooLarge) || !errors.As(err, &pe) || pe.Status != 413 || pe.Error() != "request body: larger than 10 bytes" {
		t.Fatalf("over limit: %#v", err)
	}
	// declared length alone is enough
	req = newReq("http://h/")
	req.Header.SetContentLength(1 << 20)
	if !errors.Is(v.Validate(req, nil), ErrBodyTooLarge) {
		t.Fatal("Content-Length not checked")
	}
	if errors.Is(errors.New("x"), ErrBodyTooLarge) || errors.Is(mustCompile(t, typical()).Validate(newReq("http://h/"), pv("abc")), ErrBodyTooLarge) {
		t.Fatal("400 errors must not be 413")
	}
}

func TestValidateJSON(t *testing.T) {
	v := mustCompile(t, Config{Params: []Param{
		{Name: "name", In: "json", Required: true, MinLength: 2, MaxLength: 5},
		{Name: "age", In: "json", Type: "int", Min: f64(0), Max: f64(150)},
		{Name: "score", In: "json", Type: "number", Min: f64(-1.5), Max: f64(1.5)},
		{Name: "admin", In: "json", Type: "bool"},
		{Name: "role", In: "json", Type: "enum", Values: []string{"user", "ops"}},
	}})
	cases := []struct{ body, want string }{
		{`{"name":"Zoë","age":30,"score":-1.5,"admin":false,"role":"ops"}`, ""},
		{`{"name":"Zo\u00eb"}`, ""},
		{`{"name":"ab","age":null}`, ""},
		{`{"age":30}`, `parameter "name" (json): is required`},
		{`{"name":null}`, `parameter "name" (json): is required`},
		{``, `parameter "name" (json): is required`},
		{`{"name":"a"}`, `parameter "name" (json): must be at least 2 characters`},
		{`{"name":"abcdef"}`, `parameter "name" (json): must be at most 5 characters`},
		{`{"name":5}`, `parameter "name" (json): must be a string`},
		{`{"name":"ab","age":"30"}`, `parameter "age" (json): must be an integer`},
		{`{"name":"ab","age":30.5}`, `parameter "age" (json): must be an integer`},
		{`{"name":"ab","age":151}`, `parameter "age" (json): must be <= 150`},
		{`{"name":"ab","score":1.6}`, `parameter "score" (json): must be <= 1.5`},
		{`{"name":"ab","score":-2e0}`, `parameter "score" (json): must be >= -1.5`},
		{`{"name":"ab","admin":"true"}`, `parameter "admin" (json): must be a boolean (true or false)`},
		{`{"name":"ab","role":"root"}`, `parameter "role" (json): must be one of "user", "ops"`},
		{`{"name":"ab","age":1,"age":200}`, `parameter "age" (json): must be <= 150`},
		{`{"name":"ab"`, `request body: malformed JSON`},
		{`{"name":"ab"} {}`, `request body: malformed JSON`},
		{`["name"]`, `request body: must be a JSON object`},
	}
	for _, c := range cases {
		req := newReq("http://h/")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBodyString(c.body)
		if got := errMsg(v.Validate(req, nil)); got != c.want {
			t.Errorf("%s: got %q, want %q", c.body, got, c.want)
		}
	}
}

func TestValidateForm(t *testing.T) {
	v := mustCompile(t, Config{Params: []Param{
		{Name: "qty", In: "form", Type: "int", Required: true, Max: f64(9)},
		{Name: "gift", In: "form", Type: "bool"},
	}})
	cases := []struct{ ct, body, want string }{
		{"application/x-www-form-urlencoded", "qty=3&gift=1", ""},
		{"application/x-www-form-urlencoded", "qty=10", `parameter "qty" (form): must be <= 9`},
		{"application/x-www-form-urlencoded", "qty=1&gift=yes", `parameter "gift" (form): must be a boolean (true, false, 1 or 0)`},
		{"application/x-www-form-urlencoded", "qty=1&qty=2", `parameter "qty" (form): must not be repeated`},
		{"application/x-www-form-urlencoded", "gift=0", `parameter "qty" (form): is required`},
		{"text/plain", "qty=3", `parameter "qty" (form): is required`},
	}
	for _, c := range cases {
		req := newReq("http://h/")
		req.Header.SetMethod("POST")
		req.Header.SetContentType(c.ct)
		req.SetBodyString(c.body)
		if got := errMsg(v.Validate(req, nil)); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.ct, c.body, got, c.want)
		}
	}
}

func TestValidateNumberAndString(t *testing.T) {
	v := mustCompile(t, Config{Params: []Param{
		{Name: "lat", In: "query", Type: "number", Min: f64(-90), Max: f64(90), Required: true},
		{Name: "q", In: "query", MaxLength: 3},
		{Name: "big", In: "query", Type: "int", Min: f64(0.5), Max: f64(2.5)},
	}})
	cases := map[string]string{
		"lat=45.5":                   "",
		"lat=-90":                    "",
		"lat=90.0001":                `parameter "lat" (query): must be <= 90`,
		"lat=1e2":                    `parameter "lat" (query): must be <= 90`,
		"lat=NaN":                    `parameter "lat" (query): must be a number`,
		"lat=0x10":                   `parameter "lat" (query): must be a number`,
		"q=abc":                      `parameter "lat" (query): is required`,
		"lat=1&q=%C3%A9%C3%A9%C3%A9": "",
		"lat=1&q=abcd":               `parameter "q" (query): must be at most 3 characters`,
		"lat=1&big=1":                "",
		"lat=1&big=3":                `parameter "big" (query): must be <= 2.5`,
		"lat=1&big=0":                `parameter "big" (query): must be >= 0.5`,
	}
	for q, want := range cases {
		if got := errMsg(v.Validate(newReq("http://h/?"+q), nil)); got != want {
			t.Errorf("%s: got %q, want %q", q, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		p    Param
		want string
	}{
		{Param{In: "query"}, `params: params[0]: parameter "" (query): name is required`},
		{Param{Name: "a", In: "cookie"}, `in "cookie": want "path", "query", "header", "form" or "json"`},
		{Param{Name: "a", In: "query", Type: "float"}, `type "float": want`},
		{Param{Name: "nope", In: "path"}, `parameter "nope" (path): no such parameter in the route's path template`},
		{Param{Name: "id", In: "path", Default: "x"}, `a path parameter cannot have a default`},
		{Param{Name: "a", In: "json", Default: "x"}, `default is only supported for "query" and "header"`},
		{Param{Name: "bad name", In: "header"}, `not a valid header name`},
		{Param{Name: "a", In: "query", Min: f64(1)}, `min/max apply to "int" and "number" only`},
		{Param{Name: "a", In: "query", Type: "int", Min: f64(5), Max: f64(1)}, `min 5 is greater than max 1`},
		{Param{Name: "a", In: "query", Type: "int", Min: f64(1.2), Max: f64(1.8)}, `no integer lies between min 1.2 and max 1.8`},
		{Param{Name: "a", In: "query", Type: "int", MaxLength: 3}, `apply to "string" only`},
		{Param{Name: "a", In: "query", MinLength: 4, MaxLength: 3}, `min_length 4 is greater than max_length 3`},
		{Param{Name: "a", In: "query", MinLength: -1}, `must not be negative`},
		{Param{Name: "a", In: "query", Regex: "[a-"}, `regex "[a-": error parsing regexp`},
		{Param{Name: "a", In: "query", Type: "enum"}, `type "enum" needs values`},
		{Param{Name: "a", In: "query", Type: "enum", Values: []string{"x", "x"}}, `duplicate enum value "x"`},
		{Param{Name: "a", In: "query", Values: []string{"x"}}, `values apply to type "enum" only`},
		{Param{Name: "limit", In: "query", Type: "int", Max: f64(100), Default: "500"}, `parameter "limit" (query): default "500": must be <= 100`},
		{Param{Name: "limit", In: "query", Type: "int", Default: "x"}, `default "x": must be an integer`},
	}
	for _, c := range cases {
		_, err := Compile(Config{Params: []Param{c.p}}, template)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want containing %q", c.p, err, c.want)
		}
	}
	_, err := Compile(Config{Params: []Param{{Name: "X-A", In: "header"}, {Name: "x-a", In: "header"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), `params: params[1]: parameter "x-a" (header) is already defined by params[0]`) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := Compile(Config{Params: []Param{{Name: "id", In: "path"}}}, nil); err == nil || !strings.Contains(err.Error(), "the API has no path parameters") {
		t.Errorf("nil resolver: %v", err)
	}
	if _, err := Compile(Config{MaxBodySize: -1}, nil); err == nil {
		t.Error("negative max_body_size accepted")
	}
}

func TestConfigFromTOML(t *testing.T) {
	doc := `
max_body_size = "64KiB"
[[params]]
name = "limit"
in = "query"
type = "int"
min = 1
max = 100.5
default = "20"
[[params]]
name = "mode"
in = "header"
type = "enum"
values = ["fast", "safe"]
required = true
`
	var cfg Config
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBodySize != 64<<10 || len(cfg.Params) != 2 || *cfg.Params[0].Min != 1 || *cfg.Params[0].Max != 100.5 || !cfg.Params[1].Required {
		t.Fatalf("%+v", cfg)
	}
	if _, err := Compile(cfg, nil); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]int64{"512": 512, "1KB": 1000, "2MiB": 2 << 20, "1GiB": 1 << 30, "3B": 3} {
		var s ByteSize
		if err := s.UnmarshalText([]byte(in)); err != nil || int64(s) != want {
			t.Errorf("%s: %d %v", in, s, err)
		}
	}
	for _, in := range []string{"", "1.5MiB", "-1", "10  MiB", "MiB", "2TiB"} {
		var s ByteSize
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
