package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// errNotLoopback is returned for any target that is not on 127.0.0.0/8 or ::1.
// The harness can generate tens of thousands of requests per second; pointing
// it at somebody else's host by mistake would be an attack, so it refuses.
var errNotLoopback = errors.New("bench: target is not a loopback address")

// CheckLoopbackAddr accepts "host:port" when host is a loopback IP literal or
// "localhost", and the port is a number in 1..65535.
func CheckLoopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: bad address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("bench: bad port in %q", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", errNotLoopback, addr)
	}
	return nil
}

// ParseLoopbackURL parses an http:// URL whose host is loopback and returns the
// dial address ("127.0.0.1:8080") and the request URI ("/path?query").
func ParseLoopbackURL(raw string) (addr, requestURI string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("bench: bad URL %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return "", "", fmt.Errorf("bench: URL %q: only http:// is supported", raw)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("bench: URL %q: userinfo is not allowed", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if err := CheckLoopbackAddr(addr); err != nil {
		return "", "", err
	}
	requestURI = u.RequestURI()
	return addr, requestURI, nil
}
