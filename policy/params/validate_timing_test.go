package params

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func BenchmarkValidateTypical(b *testing.B) {
	v := mustCompile(b, typical())
	path := pv("abc123")
	req := newReq("http://h/users/abc123?limit=42&x=y", "X-Mode", "fast")
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(req, path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateTypicalFailure(b *testing.B) {
	v := mustCompile(b, typical())
	path := pv("abc123")
	req := newReq("http://h/users/abc123?limit=420", "X-Mode", "fast")
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(req, path); err == nil {
			b.Fatal("passed")
		}
	}
}

func BenchmarkValidateJSON(b *testing.B) {
	v := mustCompile(b, Config{Params: []Param{
		{Name: "name", In: "json", Required: true, MaxLength: 40},
		{Name: "age", In: "json", Type: "int", Min: f64(0), Max: f64(150)},
	}})
	for _, size := range []int{100, 10000} {
		pad := strings.Repeat(`{"k":[1,2.5,"s",true,null]},`, size/30)
		body := `{"name":"Zo\u00eb","pad":[` + pad + `0],"age":30}`
		req := &fasthttp.Request{}
		req.Header.SetMethod("POST")
		req.SetBodyString(body)
		b.Run(strings.Repeat("x", 0)+itoa(len(body))+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := v.Validate(req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

func BenchmarkParseNumber(b *testing.B) {
	in := []byte("-12345.678e-2")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseNumber(in); !ok {
			b.Fatal()
		}
	}
}
