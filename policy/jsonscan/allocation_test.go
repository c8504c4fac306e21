//go:build !race

package jsonscan

import (
	"strings"
	"testing"
)

func TestZeroAllocs(t *testing.T) {
	doc := []byte(`{"alg":"HS256","k\u0069d":"a\nb","aud":["x","y"],"n":{"m":[1,2,{"z":null}]},"deep":` + nest(30) + `}`)
	long := []byte(`"` + strings.Repeat(`\u0041`, 500) + `"`)
	want := strings.Repeat("A", 500)
	scratch := make([]byte, 0, 64)
	n := testing.AllocsPerRun(1000, func() {
		if !ValidObject(doc, strict) {
			t.Fatal("invalid")
		}
		var it ObjectIter
		if err := it.Start(doc, strict); err != nil {
			t.Fatal(err)
		}
		for {
			m, ok, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			_ = EqualUnescaped(m.Key, m.KeyEsc, "kid")
			var out []byte
			out, scratch = Unquote(m.Val, m.Kind, m.ValEsc, scratch[:0])
			_ = out
			if m.Kind == Array {
				var at ArrayIter
				if err := at.Start(m.Val, strict); err != nil {
					t.Fatal(err)
				}
				for {
					_, _, _, ok, _ := at.Next()
					if !ok {
						break
					}
				}
			}
		}
		if !StringEqual(long, want) {
			t.Fatal("long escaped string")
		}
	})
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}
