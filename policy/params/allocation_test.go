//go:build !race

package params

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAllocsTypical is the brief's typical API: query int with min/max,
// header enum, path string with regex; on success, on failure, and with a
// default applied.
func TestAllocsTypical(t *testing.T) {
	v := mustCompile(t, typical())
	path := pv("abc123")
	good := newReq("http://h/users/abc123?limit=42&x=y", "X-Mode", "fast")
	bad := newReq("http://h/users/abc123?limit=420", "X-Mode", "fast")
	var sink error
	n := testing.AllocsPerRun(1000, func() {
		if err := v.Validate(good, path); err != nil {
			t.Fatal(err)
		}
		sink = v.Validate(bad, path)
	})
	if n != 0 {
		t.Fatalf("allocs = %v", n)
	}
	if sink == nil {
		t.Fatal("bad request passed")
	}

	// The default path appends to the query; re-set the URI each run as a
	// new request on the same pooled fasthttp.Request would.
	def := newReq("http://h/users/abc123?x=y", "X-Mode", "safe")
	n = testing.AllocsPerRun(1000, func() {
		def.URI().SetQueryString("x=y")
		if err := v.Validate(def, path); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("allocs with default = %v", n)
	}
}

func TestAllocsJSONAndForm(t *testing.T) {
	v := mustCompile(t, Config{MaxBodySize: 4096, Params: []Param{
		{Name: "name", In: "json", Required: true, MaxLength: 20, Regex: `[\p{L} ]+`},
		{Name: "age", In: "json", Type: "int", Min: f64(0), Max: f64(150)},
		{Name: "score", In: "json", Type: "number"},
		{Name: "tags", In: "json", Type: "string"},
	}})
	req := &fasthttp.Request{}
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"name":"Zo\u00eb Smith","age":30,"score":1.5e2,"nested":{"a":[1,2,{"b":null}]},"ok":true}`)
	n := testing.AllocsPerRun(1000, func() {
		if err := v.Validate(req, nil); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("json allocs = %v", n)
	}

	fv := mustCompile(t, Config{Params: []Param{{Name: "qty", In: "form", Type: "int", Required: true}}})
	freq := &fasthttp.Request{}
	freq.Header.SetMethod("POST")
	freq.Header.SetContentType("application/x-www-form-urlencoded")
	freq.SetBodyString("qty=3&note=hi")
	n = testing.AllocsPerRun(1000, func() {
		if err := fv.Validate(freq, nil); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("form allocs = %v", n)
	}

	body := []byte(`{"a":1,"b":"x\ny","c":[1,2,3]}`)
	scratch := make([]byte, 0, 64)
	n = testing.AllocsPerRun(1000, func() {
		_, _, scratch, _ = LookupJSON(body, "b", scratch[:0])
	})
	if n != 0 {
		t.Fatalf("LookupJSON allocs = %v", n)
	}
}
