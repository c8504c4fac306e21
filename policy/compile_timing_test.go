package policy

import (
	"strconv"
	"strings"
	"testing"
)

// manyAPIs is a config with n APIs in 10 groups, a realistic mix of static,
// parameter, regex and catch-all paths.
func manyAPIs(n int) []byte {
	var b strings.Builder
	b.WriteString("[[backends]]\nname = \"b\"\ntargets = [{ url = \"http://127.0.0.1:9\" }]\n")
	per := n / 10
	for g := 0; g < 10; g++ {
		b.WriteString("[[groups]]\nname = \"g" + strconv.Itoa(g) + "\"\nhosts = [\"h" + strconv.Itoa(g) + ".example.com\"]\n")
		for i := 0; i < per; i++ {
			id := strconv.Itoa(i)
			b.WriteString("[[groups.apis]]\nname = \"a" + id + "\"\nbackend = \"b\"\n")
			switch i % 4 {
			case 0:
				b.WriteString("path = \"/v1/svc" + id + "/users/{id}\"\nbackend_path = \"/u/{id}\"\n")
			case 1:
				b.WriteString("path = \"/v1/svc" + id + "/orders/{id:[0-9]+}/items\"\n")
			case 2:
				b.WriteString("path = \"/v1/svc" + id + "/static/health\"\nmethods = [\"GET\"]\n")
			default:
				b.WriteString("path = \"/v1/svc" + id + "/files/{rest:*}\"\n")
			}
		}
	}
	return []byte(b.String())
}

// BenchmarkReload10000 is a full reload of a 10 000-API file: parse,
// validate, compile three stages of routers and per-API metrics.
func BenchmarkReload10000(b *testing.B) {
	data := manyAPIs(10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, err := Parse("big.toml", data)
		if err != nil {
			b.Fatal(err)
		}
		s, err := Compile(p, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.APIs) != 30000 {
			b.Fatalf("%d compiled", len(s.APIs))
		}
	}
}

func TestManyAPIsCompile(t *testing.T) {
	p, err := Parse("big.toml", manyAPIs(1000))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.APIs) != 3000 {
		t.Fatalf("%d", len(s.APIs))
	}
}
