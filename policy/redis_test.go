package policy

import (
	"strings"
	"testing"
)

func TestStateRedisResolves(t *testing.T) {
	t.Setenv("SLUICE_TEST_REDIS_PW", "s3cret")
	p, err := Parse("t.toml", []byte(`
[state.redis]
addresses = ["127.0.0.1:6390", "redis-2.internal:6379"]
password = "env:SLUICE_TEST_REDIS_PW"
username = "sluice"
fleet_size = 4
[state.redis.scopes]
client_ip = "local"
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := CompileState(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Addrs) != 2 || r.Password != "s3cret" || r.Username != "sluice" || r.FleetSize != 4 ||
		r.KeyPrefix != DefaultRedisKeyPrefix || r.DialTimeout != DefaultRedisDialTimeout ||
		r.ReadTimeout != DefaultRedisReadTimeout || r.Fallback != "local" || !r.ReadyzInFallback || r.TLS != nil {
		t.Fatalf("resolved: %+v", r)
	}
	if !r.API || !r.Consumer || r.ClientIP || !r.Quota || !r.Nonces {
		t.Fatalf("scopes: %+v (every scope defaults to fleet, client_ip set local)", r)
	}
	// Without [state.redis] there is nothing to resolve.
	p, _ = Parse("t.toml", []byte("[state]\nrate_limit_max_keys = 10\n"))
	if r, err := CompileState(p); err != nil || r != nil {
		t.Fatalf("no [state.redis]: %+v %v", r, err)
	}
}

func TestStateRedisErrors(t *testing.T) {
	cases := []struct{ body, key, msg string }{
		{`fleet_size = 3`, "state.redis.addresses", "at least one"},
		{`addresses = ["nohost"]` + "\nfleet_size = 3", "state.redis.addresses[0]", "host:port"},
		{`addresses = ["a:1"]`, "state.redis.fleet_size", "required"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\nread_timeout = \"50ms\"", "state.redis.read_timeout", "maximum"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\nread_timeout = \"1ms\"", "state.redis.read_timeout", "minimum"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\ndial_timeout = \"2s\"", "state.redis.dial_timeout", "maximum"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\nfallback = \"open\"", "state.redis.fallback", `"local"`},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\nkey_prefix = \"{x}\"", "state.redis.key_prefix", "braces"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\ndb = 99", "state.redis.db", "0 and 15"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\npassword = \"env:SLUICE_TEST_NO_SUCH_VAR\"", "state.redis.password", "not set"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\nscopes = { consumer = \"global\" }", "state.redis.scopes.consumer", `"fleet"`},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\ntls = { cert_file = \"/x\" }", "state.redis.tls.cert_file", "together"},
		{`addresses = ["a:1"]` + "\nfleet_size = 3\ntls = { ca_file = \"/nonexistent/ca.pem\" }", "state.redis.tls.ca_file", "cannot read"},
	}
	for _, c := range cases {
		p, err := Parse("t.toml", []byte("[state.redis]\n"+c.body+"\n"))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.body, err)
		}
		_, err = CompileState(p)
		if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: got %v, want an error at %s saying %q", c.body, err, c.key, c.msg)
		}
		// Compile reports the same error, placed in the file.
		if _, err := Compile(p, Options{}); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%q: Compile: %v", c.body, err)
		}
	}
}
