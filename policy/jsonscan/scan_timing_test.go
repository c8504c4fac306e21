package jsonscan

import (
	"strings"
	"testing"
)

// A JOSE claim set of typical size and a 10 KiB request body.
var (
	claimSet = []byte(`{"sub":"user-123","iss":"https://issuer.example","aud":["api","web"],"exp":1900000000,` +
		`"nbf":1700000000,"iat":1700000000,"scope":"read write","name":"J\u00f6rg"}`)
	bigBody = []byte(`{"items":[` + strings.Repeat(`{"id":12345,"name":"widget","tags":["a","b"],"price":1.5},`, 170) +
		`{"id":0}],"qty":3,"note":"last"}`)
)

func BenchmarkValidObjectClaims(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(claimSet)))
	for b.Loop() {
		if !ValidObject(claimSet, strict) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkObjectIterBody(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(bigBody)))
	for b.Loop() {
		var it ObjectIter
		if err := it.Start(bigBody, lenient); err != nil {
			b.Fatal(err)
		}
		for {
			m, ok, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			_ = EqualUnescaped(m.Key, m.KeyEsc, "qty")
		}
	}
}
