package policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/configs"
	"github.com/sluicegw/sluice/policy/radix"
)

func compileString(t *testing.T, src string) (*Snapshot, error) {
	t.Helper()
	p, err := Parse("test.toml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile(p, Options{})
}

func mustCompile(t *testing.T, src string) *Snapshot {
	t.Helper()
	s, err := compileString(t, src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

// TestReferenceDocumentsEveryKey decodes configs/reference.toml strictly and
// compiles it, and checks that every TOML key of the schema appears in it:
// the documentation cannot drift from the code.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	// Named by its path: relative TLS file paths resolve against it.
	p, err := Parse("../configs/reference.toml", configs.Reference)
	if err != nil {
		t.Fatalf("reference.toml does not decode: %v", err)
	}
	if _, err := Compile(p, Options{}); err != nil {
		t.Fatalf("reference.toml does not compile: %v", err)
	}
	for _, key := range schemaKeys() {
		if !regexp.MustCompile(`(?m)(^|[{,])\s*`+regexp.QuoteMeta(key)+`\s*=`).Match(configs.Reference) &&
			!strings.Contains(string(configs.Reference), "["+key) && !strings.Contains(string(configs.Reference), "."+key+"]") {
			t.Errorf("key %q is not documented in configs/reference.toml", key)
		}
	}
}

func TestQuickstartCompiles(t *testing.T) {
	p, err := Parse("quickstart.toml", configs.Quickstart)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Server.DemoOrigin == "" || len(s.APIs) == 0 {
		t.Fatalf("quickstart: %+v", s.Server)
	}
}

func TestDefaults(t *testing.T) {
	s := mustCompile(t, `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/a"
backend = "b"
`)
	if got := s.Server; got.Listen[0] != DefaultListen || got.AdminListen != DefaultAdminListen ||
		got.MaxBodySize != DefaultMaxBodySize || got.StreamThreshold != DefaultStreamThreshold ||
		got.ShutdownTimeout != DefaultShutdownTimeout || !got.WatchConfig || got.MaxHeaderSize != DefaultMaxHeaderSize {
		t.Fatalf("server defaults: %+v", got)
	}
	if len(s.APIs) != 3 {
		t.Fatalf("an API without stages is published to all three; got %d compiled", len(s.APIs))
	}
	a := s.APIs[0]
	if a.Timeout != DefaultAPITimeout || a.Methods[0] != "*" {
		t.Fatalf("api defaults: %+v", a)
	}
	b := s.Backends[0]
	if b.PoolSize != DefaultPoolSize || b.ClientHost || b.Targets[0].Weight != 1 || b.Targets[0].Addr != "127.0.0.1:9" {
		t.Fatalf("backend defaults: %+v", b)
	}
}

func TestUnitsDecode(t *testing.T) {
	s := mustCompile(t, `
[server]
max_body_size = "2GiB"
stream_threshold = 65536
max_header_size = "8KiB"
read_timeout = "1m30s"
`)
	if s.Server.MaxBodySize != 2<<30 || s.Server.StreamThreshold != 65536 || s.Server.MaxHeaderSize != 8192 ||
		s.Server.ReadTimeout.Seconds() != 90 {
		t.Fatalf("%+v", s.Server)
	}
	for _, bad := range []string{`max_body_size = "10 parsecs"`, `read_timeout = "soon"`, `read_timeout = "-1s"`, `max_body_size = "-5"`} {
		_, err := compileString(t, "[server]\n"+bad+"\n")
		var list Errors
		if !errors.As(err, &list) || list[0].Line != 2 || list[0].Col == 0 {
			t.Errorf("%s: want a positioned error, got %v", bad, err)
		}
	}
}

// TestThreeMistakes: three different mistakes are reported at once, each
// with the line and column where it was written.
func TestThreeMistakes(t *testing.T) {
	src := `[server]
listen = ["127.0.0.1:8080"]

[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]

[[groups]]
name = "g"

[[groups.apis]]
name = "a"
path = "/a"
backend = "missing"
timeout = "45s"

[[groups.apis]]
name = "c"
path = "/c/{id:[0-9}"
backend = "b"
`
	_, err := compileString(t, src)
	want := `test.toml:14:1: groups[0].apis[0].backend: unknown backend "missing"
test.toml:15:1: groups[0].apis[0].timeout: timeout 45s is over the 30s maximum
test.toml:19:1: groups[0].apis[1].path: radix: template "/c/{id:[0-9}": bad regex in {id:[0-9}: error parsing regexp: missing closing ]: ` + "`[0-9`"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestUnknownKeysPositioned(t *testing.T) {
	_, err := compileString(t, "[server]\nlisten = [\"127.0.0.1:1\"]\nlistne = 1\n\n[[groups]]\nname = \"g\"\nhostz = []\n")
	var list Errors
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want two unknown-key errors, got %v", err)
	}
	if list[0].Line != 3 || list[0].Col != 1 || list[0].Key != "server.listne" ||
		list[1].Line != 7 || list[1].Key != "groups[0].hostz" {
		t.Fatalf("positions: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	base := `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
`
	cases := []struct{ name, src, want string }{
		{"duplicate route", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x/{id}"
backend = "b"
[[groups.apis]]
name = "b"
path = "/x/{id}"
backend = "b"`, "groups[0].apis[1].path"},
		{"bad regex", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x/{id:(}"
backend = "b"`, "groups[0].apis[0].path"},
		{"missing stage variable", base + `[[groups]]
name = "g"
[groups.stages.RELEASE.variables]
up = "b"
[[groups.apis]]
name = "a"
path = "/x"
backend = "${up}"
stages = ["RELEASE", "TEST"]`, `stage variable "up" is not defined in stage TEST`},
		{"unknown backend", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x"
backend = "nope"`, `unknown backend "nope"`},
		{"unknown stage", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x"
backend = "b"
stages = ["PROD"]`, `unknown stage "PROD"`},
		{"backend path param not captured", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x/{id}"
backend = "b"
backend_path = "/y/{other}"`, "not captured"},
		{"two default groups", base + `[[groups]]
name = "g1"
[[groups]]
name = "g2"`, "already the default group"},
		{"host in two groups", base + `[[groups]]
name = "g1"
hosts = ["a.example.com"]
[[groups]]
name = "g2"
hosts = ["A.example.com"]`, "already belongs to group"},
		{"tls table on an http target", `[[backends]]
name = "b"
targets = [{ url = "http://x:80", tls = { server_name = "x" } }]`, "a tls table needs an https:// target URL"},
		{"target with path", `[[backends]]
name = "b"
targets = [{ url = "http://x:80/api" }]`, "only scheme, host and port"},
		{"weight", `[[backends]]
name = "b"
targets = [{ url = "http://x:80", weight = 5000 }]`, "weight"},
		{"mock and targets", `[[backends]]
name = "b"
targets = [{ url = "http://x:80" }]
[backends.mock]
body = "x"`, "not both"},
		{"no targets", `[[backends]]
name = "b"`, "needs targets or a mock"},
		{"duplicate backend", base + base, "duplicate backend"},
		{"public admin without token", `[server]
admin_listen = "0.0.0.0:9901"`, "requires server.admin_token"},
		{"bad method", base + `[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/x"
backend = "b"
methods = ["get"]`, "invalid method"},
		{"bad trusted proxy", `[server]
trusted_proxies = ["10.0.0.0/33"]`, "invalid CIDR"},
		{"admin token env missing", `[server]
admin_token = "env:SLUICE_TEST_SURELY_UNSET"`, "SLUICE_TEST_SURELY_UNSET is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileString(t, c.src)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
			var list Errors
			if errors.As(err, &list) {
				for _, e := range list {
					if e.Line == 0 {
						t.Errorf("error without a position: %v", e)
					}
				}
			}
		})
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	_, err := compileString(t, `[server]
admin_listen = "bad address"
admin_token = "s3cr3t-value"`)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("error leaks the token or is missing: %v", err)
	}
}

func TestMatchHostsAndStages(t *testing.T) {
	s := mustCompile(t, `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
[[groups]]
name = "exact"
hosts = ["api.example.com"]
[[groups.apis]]
name = "e"
path = "/x"
backend = "b"
[[groups]]
name = "wild"
hosts = ["*.example.com"]
[[groups.apis]]
name = "w"
path = "/x"
backend = "b"
stages = ["PRE"]
[[groups]]
name = "default"
[[groups.apis]]
name = "d"
path = "/x"
backend = "b"
`)
	var ps radix.Params
	cases := []struct {
		host  string
		stage StageID
		want  string
	}{
		{"api.example.com", StageRelease, "exact/e"},
		{"API.Example.COM:8080", StageRelease, "exact/e"},
		{"api.example.com.", StageRelease, "exact/e"},
		{"foo.example.com", StagePre, "wild/w"},
		{"foo.example.com", StageRelease, ""}, // w is not published to RELEASE
		{"a.b.example.com", StageRelease, "default/d"},
		{"other.org", StageTest, "default/d"},
		{"[::1]:80", StageRelease, "default/d"},
		{"", StageRelease, "default/d"},
	}
	for _, c := range cases {
		api, _, res := s.Match([]byte(c.host), c.stage, []byte("GET"), []byte("/x"), &ps)
		got := ""
		if res == Matched {
			got = api.Group.Name + "/" + api.Name
		}
		if got != c.want {
			t.Errorf("host %q stage %s: got %q want %q", c.host, c.stage, got, c.want)
		}
	}
}

func TestParseStage(t *testing.T) {
	for in, want := range map[string]StageID{"": StageRelease, "RELEASE": StageRelease, "PRE": StagePre, "TEST": StageTest} {
		if got, ok := ParseStage([]byte(in)); !ok || got != want {
			t.Errorf("%q: %v %v", in, got, ok)
		}
	}
	for _, bad := range []string{"release", "PROD", " TEST"} {
		if _, ok := ParseStage([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
