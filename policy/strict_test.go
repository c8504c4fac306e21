package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errorsOf compiles src and returns its positioned errors as
// "line:col key: msg" lines.
func errorsOf(t *testing.T, src string) []string {
	t.Helper()
	_, err := compileString(t, src)
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("want Errors, got %v", err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = strings.TrimPrefix(e.Error(), "test.toml:")
	}
	return out
}

func wantErrors(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i+1, got[i], want[i])
		}
	}
}

// TestSizeOneGrammarServerAndAccessLog: "10 MiB" used to work in [server]
// and fail in [access_log]; every size key now reads the same forms.
func TestSizeOneGrammarServerAndAccessLog(t *testing.T) {
	for form, want := range map[string]int64{`"8MiB"`: 8 << 20, `"8 MiB"`: 8 << 20, `"8388608"`: 8 << 20,
		`8388608`: 8 << 20, `"8MB"`: 8e6, `"8 MB"`: 8e6, `"8192 KiB"`: 8 << 20} {
		s, err := compileString(t, "[server]\nmax_body_size = "+form+"\n[access_log]\nbatch_size = "+form+"\n")
		if err != nil {
			t.Errorf("%s: %v", form, err)
			continue
		}
		if s.Server.MaxBodySize != want || int64(s.Config.AccessLog.BatchSize) != want {
			t.Errorf("%s: server %d, access_log %d, want %d", form, s.Server.MaxBodySize, s.Config.AccessLog.BatchSize, want)
		}
	}
	for _, form := range []string{`"8mib"`, `"-1"`, `-1`, `"8  MiB"`, `"8.5MiB"`, `true`} {
		got := errorsOf(t, "[server]\nmax_body_size = "+form+"\n[access_log]\nbatch_size = "+form+"\n")
		wantErrors(t, got, "2:1: server.max_body_size: ", "4:1: access_log.batch_size: ")
	}
}

// TestDefect5DurationsNeedUnits: a bare number is not a duration in any
// table, and each timeout has a minimum.
func TestDefect5DurationsNeedUnits(t *testing.T) {
	got := errorsOf(t, `[server]
read_timeout = 30
idle_timeout = "1ms"
[access_log]
flush_interval = 1
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
connect_timeout = "1us"
[[groups]]
name = "g"
[groups.cors]
allow_origins = ["https://a.example"]
max_age = 600
[groups.auth]
modes = ["jwt"]
[groups.auth.jwt]
jwks_url = "https://idp.example/jwks"
leeway = 30
[[groups.apis]]
name = "a"
path = "/a"
backend = "b"
timeout = "1ms"
`)
	wantErrors(t, got,
		`2:1: server.read_timeout: a duration needs a unit, e.g. "30s"`,
		`3:1: server.idle_timeout: 1ms is below the minimum 100ms`,
		`5:1: access_log.flush_interval: a duration needs a unit, e.g. "1s"`,
		`9:1: backends[0].connect_timeout: 1µs is below the minimum 10ms`,
		`14:1: groups[0].cors.max_age: a duration needs a unit, e.g. "600s"`,
		`19:1: groups[0].auth.jwt.leeway: a duration needs a unit, e.g. "30s"`,
		`24:1: groups[0].apis[0].timeout: 1ms is below the minimum 10ms`,
	)
}

// TestDefect16EveryTypeErrorAndWhatFollows: mismatches in arrays, inline
// tables and tables are each reported, the rest of the file is still read,
// and a blanked key causes no second error of its own.
func TestDefect16EveryTypeErrorAndWhatFollows(t *testing.T) {
	got := errorsOf(t, `[server]
listen = [8080, "127.0.0.1:8080"]
trusted_proxies = ["10.0.0.0/8", 5]
[[backends]]
name = "b"
targets = [{ weight = 2, url = 5 }, { url = "http://127.0.0.1:9", weight = "x" }]
[[groups]]
name = "g"
hosts = { a = 1 }
[[groups.apis]]
name = "a"
path = "/a"
backend = ["b"]
methods = [["GET"]]
stagez = ["TEST"]
[[groups.apis]]
name = "c"
path = "c"
backend = "b"
`)
	wantErrors(t, got,
		`2:11: server.listen[0]: want a string, not a bare number`,
		`3:34: server.trusted_proxies[1]: want a string`,
		`6:26: backends[0].targets[0].url: want a string`,
		`6:67: backends[0].targets[1].weight: want a whole number, not a string`,
		`9:1: groups[0].hosts: want an array`,
		`13:1: groups[0].apis[0].backend: want a string, not an array`,
		`14:1: groups[0].apis[0].methods: want a string, not an array`,
		`15:1: groups[0].apis[0].stagez: unknown key`,
		`18:1: groups[0].apis[1].path: path "c" must start with '/'`,
	)
}

// FuzzParse: Parse and Compile never panic, whatever the bytes; blanking
// mistyped values never makes a valid document invalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[server]\nread_timeout = 30\n",
		"[[backends]]\nname = \"b\"\ntargets = [{ weight = 2, url = 5 }, { url = 1 }]\n",
		"[server]\nlisten = [1, 2, [3]]\nmax_body_size = -1\n",
		"[[groups]]\nname = 5\n[[groups.apis]]\nname = \"a\"\nmethods = \"GET\"\n",
		"a = { b = 1, c = 2 }\n[server.listen]\nx = 1\n",
		"[access_log]\nring_size = 99999999999999999999\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse("f.toml", []byte(src))
		if err != nil {
			return
		}
		if s, err := Compile(p, Options{}); err == nil {
			s.Close()
		}
	})
}

// TestDefect13ReadBounded: a file over MaxFileSize is refused after reading
// one byte past the bound, by check (ReadFile) and by reloads (ReadBounded).
func TestDefect13ReadBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+10), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBounded(path); err != errTooLarge {
		t.Fatalf("ReadBounded: %v, want %v", err, errTooLarge)
	}
	_, err := ReadFile(path)
	if err == nil || err.Error() != path+": config file is larger than 16MiB" {
		t.Fatalf("ReadFile: %v", err)
	}
	if _, err := Parse("x.toml", make([]byte, MaxFileSize+1)); err == nil {
		t.Fatal("Parse accepted a file over the bound")
	}
}

// TestDefect13LongValuesCutInErrors: a long value is quoted cut short in
// every error, including those built by the policy sub-packages.
func TestDefect13LongValuesCutInErrors(t *testing.T) {
	long := strings.Repeat("z", 1<<20)
	got := errorsOf(t, `[server]
listen = ["`+long+`"]
trusted_proxies = ["`+long+`"]
[[groups]]
name = "g"
[groups.ip_access]
allow = ["`+long+`"]
`)
	if len(got) < 2 {
		t.Fatalf("got %d errors, want one per long value: %.300q", len(got), got)
	}
	for _, e := range got {
		if len(e) > 700 {
			t.Errorf("error line of %d bytes: %.200q", len(e), e)
		}
	}
}
