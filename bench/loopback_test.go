package bench

import (
	"context"
	"testing"
	"time"
)

func TestCheckLoopbackAddr(t *testing.T) {
	good := []string{"127.0.0.1:80", "127.1.2.3:65535", "[::1]:8080", "localhost:1"}
	for _, a := range good {
		if err := CheckLoopbackAddr(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	bad := []string{"10.0.0.1:80", "0.0.0.0:80", "[::]:80", "example.com:80", "192.168.1.1:443",
		"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", ":80", "[::ffff:8.8.8.8]:80", ""}
	for _, a := range bad {
		if err := CheckLoopbackAddr(a); err == nil {
			t.Errorf("%s accepted", a)
		}
	}
}

func TestParseLoopbackURL(t *testing.T) {
	addr, uri, err := ParseLoopbackURL("http://127.0.0.1:8080/a/b?size=10")
	if err != nil || addr != "127.0.0.1:8080" || uri != "/a/b?size=10" {
		t.Fatalf("got %q %q %v", addr, uri, err)
	}
	addr, uri, err = ParseLoopbackURL("http://localhost")
	if err != nil || addr != "localhost:80" || uri != "/" {
		t.Fatalf("got %q %q %v", addr, uri, err)
	}
	for _, u := range []string{"https://127.0.0.1/", "http://8.8.8.8/", "http://user:pw@127.0.0.1/", "ftp://127.0.0.1/", "::"} {
		if _, _, err := ParseLoopbackURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestRunLoadRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"8.8.8.8:80", "0.0.0.0:80", "example.com:80"} {
		_, err := RunLoad(context.Background(), LoadConfig{Addr: addr, Duration: time.Second})
		if err == nil {
			t.Errorf("%s: load accepted", addr)
		}
	}
	if _, err := OpenIdleConns(context.Background(), "8.8.8.8:80", "", "/", 1, time.Second); err == nil {
		t.Error("idle connections to a non-loopback address accepted")
	}
}
