package casign

import (
	"net/http"
	"testing"
)

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":               "''",
		"plain-1.0/a:b":  "plain-1.0/a:b",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		"$HOME":          "'$HOME'",
		"`x`;rm -rf /":   "'`x`;rm -rf /'",
		"Accept:":        "Accept:",
		"X-Ca-Key: k1":   "'X-Ca-Key: k1'",
		"a\nb":           "'a\nb'",
		"!event":         "'!event'",
		"http://h/p?q=1": "'http://h/p?q=1'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCurlCommand(t *testing.T) {
	h := http.Header{"X-Ca-Key": {"k"}, "Content-Type": {"application/json"}, "X-Empty": {""}}
	got, err := CurlCommand("post", "http://127.0.0.1:1/p?a=1", h, []byte(`{"a":"it's"}`), CurlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `curl --path-as-is -X POST -H 'Content-Type: application/json' -H 'X-Ca-Key: k' -H 'X-Empty;' -H Accept: --data-binary '{"a":"it'\''s"}' 'http://127.0.0.1:1/p?a=1'`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got, err = CurlCommand("HEAD", "http://h/", http.Header{"Accept": {"*/*"}}, nil, CurlOptions{})
	if err != nil || got != `curl --path-as-is --head -H 'Accept: */*' http://h/` {
		t.Fatalf("HEAD: %s %v", got, err)
	}
	got, err = CurlCommand("PUT", "http://h/", nil, []byte("a\x00b"), CurlOptions{BodyFile: "body.bin"})
	if err != nil || got != `curl --path-as-is -X PUT -H Accept: --data-binary @body.bin -H Content-Type: http://h/` {
		t.Fatalf("BodyFile: %s %v", got, err)
	}
	for _, bad := range []struct {
		url  string
		h    http.Header
		body string
	}{
		{"/relative", nil, ""},
		{"http://h/", http.Header{"X-A": {"a\r\nb"}}, ""},
		{"http://h/", nil, "a\x00b"},
		{"http://h/", nil, "@/etc/passwd"},
	} {
		if _, err := CurlCommand("POST", bad.url, bad.h, []byte(bad.body), CurlOptions{}); err == nil {
			t.Errorf("CurlCommand(%q, %v, %q) succeeded", bad.url, bad.h, bad.body)
		}
	}
}
