package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/proxy"
)

// threeMistakes has three independent semantic mistakes; the comments give
// the line and column each error must point at (the key that is wrong).
const threeMistakes = `[server]
listen = ["127.0.0.1:18080"]

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:18081" }]
host_header = "upstream"

[[groups]]
name = "g"

[[groups.apis]]
name = "slow"
path = "/slow"
backend = "origin"
  timeout = "45s"

[[groups.apis]]
name = "lost"
path = "/lost"
stages = ["RELEASE"]
    backend = "nowhere"
`

// unknownKeys has two misspelt keys in different tables.
const unknownKeys = `[server]
listen = ["127.0.0.1:18080"]
colour = "blue"

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:18081", wieght = 2 }]
`

const validConfig = `[server]
listen = ["127.0.0.1:18080"]
admin_listen = "127.0.0.1:19901"

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:18081" }, { url = "http://127.0.0.1:18082", weight = 3 }]

[[backends]]
name = "canned"
[backends.mock]
body = '{"ok":true}'

[[groups]]
name = "shop"
hosts = ["shop.example.com"]

[[groups.apis]]
name = "item"
methods = ["GET", "HEAD"]
path = "/items/{id:[0-9]+}"
backend = "origin"
backend_path = "/v1/item?id={id}"
stages = ["RELEASE"]

[[groups.apis]]
name = "ping"
methods = ["GET"]
path = "/ping"
backend = "canned"
stages = ["RELEASE", "TEST"]
`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// errorLines asserts that stderr holds exactly the wanted error lines, each
// "FILE:LINE:COL: KEY..." with the rest containing the wanted fragment.
func errorLines(t *testing.T, stderr, file string, want [][3]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d error lines, want %d:\n%s", len(lines), len(want), stderr)
	}
	for i, w := range want {
		prefix := file + ":" + w[0] + ": " + w[1]
		if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], w[2]) {
			t.Errorf("line %d = %q\nwant prefix %q containing %q", i+1, lines[i], prefix, w[2])
		}
	}
}

func TestCheckReportsEveryMistakeWithPosition(t *testing.T) {
	path := writeTemp(t, "bad.toml", threeMistakes)
	stdout, stderr, code := runSluice(t, "check", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	errorLines(t, stderr, path, [][3]string{
		{"7:1", "backends[0].host_header: ", `"upstream"`},
		{"16:3", "groups[0].apis[0].timeout: ", "over the 30s maximum"},
		{"22:5", "groups[0].apis[1].backend: ", `unknown backend "nowhere"`},
	})
}

func TestCheckUnknownKeys(t *testing.T) {
	path := writeTemp(t, "typo.toml", unknownKeys)
	_, stderr, code := runSluice(t, "check", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, stderr)
	}
	errorLines(t, stderr, path, [][3]string{
		{"3:1", "server.colour: ", "unknown key"},
		// A key inside an inline table of an array gets its full path.
		{"7:46", "backends[0].targets[0].wieght: ", "unknown key"},
	})
}

func TestCheckValid(t *testing.T) {
	path := writeTemp(t, "good.toml", validConfig)
	stdout, stderr, code := runSluice(t, "check", path)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (stderr %q)", code, stderr)
	}
	want := path + ": ok: 1 groups, 2 APIs, 2 backends\n"
	if stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
}

func TestCheckShippedConfigs(t *testing.T) {
	for _, name := range []string{"reference.toml", "quickstart.toml"} {
		path := filepath.Join("..", "..", "configs", name)
		stdout, stderr, code := runSluice(t, "check", path)
		if code != 0 {
			t.Errorf("check %s: exit %d\n%s", name, code, stderr)
			continue
		}
		if !strings.HasPrefix(stdout, path+": ok: ") || strings.Count(stdout, "\n") != 1 {
			t.Errorf("check %s: stdout %q, want one summary line", name, stdout)
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	_, stderr, code := runSluice(t, "check", path)
	if code != 1 || !strings.HasPrefix(stderr, path+": ") {
		t.Fatalf("exit %d stderr %q: want 1 and an error naming the file", code, stderr)
	}
}

// TestCmdCheckInProcess drives cmdCheck directly so coverage sees it.
func TestCmdCheckInProcess(t *testing.T) {
	good := writeTemp(t, "good.toml", validConfig)
	bad := writeTemp(t, "bad.toml", threeMistakes)
	cases := []struct {
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		stderrLine int
	}{
		{[]string{good}, 0, "ok: 1 groups, 2 APIs, 2 backends", "", 0},
		{[]string{bad}, 1, "", "over the 30s maximum", 3},
		{nil, 2, "", "usage: sluice check FILE", 1},
		{[]string{good, bad}, 2, "", "usage: sluice check FILE", 1},
		{[]string{"-x", good}, 2, "", "usage: sluice check FILE", 0},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := cmdCheck(c.args, &stdout, &stderr)
		if code != c.code {
			t.Errorf("cmdCheck(%q) = %d, want %d (stderr %q)", c.args, code, c.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), c.stdoutHas) || (c.stdoutHas == "" && stdout.Len() > 0) {
			t.Errorf("cmdCheck(%q) stdout %q, want %q", c.args, stdout.String(), c.stdoutHas)
		}
		if !strings.Contains(stderr.String(), c.stderrHas) {
			t.Errorf("cmdCheck(%q) stderr %q, want %q", c.args, stderr.String(), c.stderrHas)
		}
		if c.stderrLine > 0 && strings.Count(stderr.String(), "\n") != c.stderrLine {
			t.Errorf("cmdCheck(%q) stderr has %d lines, want %d:\n%s", c.args,
				strings.Count(stderr.String(), "\n"), c.stderrLine, stderr.String())
		}
	}
}

func TestRoutesTable(t *testing.T) {
	path := writeTemp(t, "good.toml", validConfig)
	stdout, stderr, code := runSluice(t, "routes", path)
	if code != 0 {
		t.Fatalf("exit %d (stderr %q)", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	// header + item (GET, HEAD; RELEASE) + ping (GET; RELEASE, TEST)
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), stdout)
	}
	if f := strings.Fields(lines[0]); len(f) < 4 || f[0] != "HOST" || f[3] != "PATH" {
		t.Errorf("header %q", lines[0])
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^shop\.example\.com\s+RELEASE\s+GET\s+/items/\{id:\[0-9\]\+\}\s+shop/item\s+origin\s+/v1/item\?id=\{id\}\s+http://127\.0\.0\.1:18081,http://127\.0\.0\.1:18082$`),
		regexp.MustCompile(`^shop\.example\.com\s+RELEASE\s+HEAD\s+/items/\{id:\[0-9\]\+\}\s+shop/item\s+origin\s+`),
		regexp.MustCompile(`^shop\.example\.com\s+RELEASE\s+GET\s+/ping\s+shop/ping\s+canned\s+\(as requested\)\s+\(mock\)$`),
		regexp.MustCompile(`^shop\.example\.com\s+TEST\s+GET\s+/ping\s+shop/ping\s+canned\s+`),
	}
	for i, re := range want {
		if !re.MatchString(lines[i+1]) {
			t.Errorf("row %d = %q, want match %s", i+1, lines[i+1], re)
		}
	}
}

func TestRoutesJSON(t *testing.T) {
	path := writeTemp(t, "good.toml", validConfig)
	stdout, stderr, code := runSluice(t, "routes", "-json", path)
	if code != 0 {
		t.Fatalf("exit %d (stderr %q)", code, stderr)
	}
	var rows []struct {
		Group   string   `json:"group"`
		Hosts   []string `json:"hosts"`
		Stage   string   `json:"stage"`
		Method  string   `json:"method"`
		Path    string   `json:"path"`
		API     string   `json:"api"`
		Backend string   `json:"backend"`
		Targets []string `json:"targets"`
		Upath   string   `json:"backend_path"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("routes -json does not parse: %v\n%s", err, stdout)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Group != "shop" || r.Stage != "RELEASE" || r.Method != "GET" || r.Path != "/items/{id:[0-9]+}" ||
		r.API != "item" || r.Backend != "origin" || r.Upath != "/v1/item?id={id}" || len(r.Targets) != 2 ||
		len(r.Hosts) != 1 || r.Hosts[0] != "shop.example.com" {
		t.Errorf("first row %+v", r)
	}
}

func TestRoutesRejectsInvalid(t *testing.T) {
	path := writeTemp(t, "bad.toml", threeMistakes)
	stdout, stderr, code := runSluice(t, "routes", "-json", path)
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 3 {
		t.Fatalf("exit %d stdout %q stderr %q: want 1, nothing, three errors", code, stdout, stderr)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	path := writeTemp(t, "bad.toml", threeMistakes)
	_, stderr, code := runSluice(t, "run", "-config", path)
	if code != 1 || !strings.Contains(stderr, path+":16:3: ") {
		t.Fatalf("exit %d stderr %q: want 1 and the positioned errors", code, stderr)
	}
}

// checkErrors runs sluice check on content and returns its error lines,
// failing unless it exits 1.
func checkErrors(t *testing.T, content string) (string, []string) {
	t.Helper()
	path := writeTemp(t, "c.toml", content)
	stdout, stderr, code := runSluice(t, "check", path)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q: want 1 and errors", code, stdout, stderr)
	}
	return path, strings.Split(strings.TrimRight(stderr, "\n"), "\n")
}

// TestDefect5BareNumbersAreNotDurations: a bare number used to be
// nanoseconds (read_timeout = 30 made every request 408, timeout = 5 a 504
// in 2ms) and max_body_size = -1 made every body a 413. Each is an error
// naming file, line and column.
func TestDefect5BareNumbersAreNotDurations(t *testing.T) {
	path, lines := checkErrors(t, `[server]
listen = ["127.0.0.1:18080"]
read_timeout = 30
max_body_size = -1
write_timeout = "50ns"

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:18081" }]
connect_timeout = 2.5

[[groups]]
name = "g"

[[groups.apis]]
name = "a"
path = "/a"
backend = "origin"
timeout = 5
`)
	errorLines(t, strings.Join(lines, "\n"), path, [][3]string{
		{"3:1", "server.read_timeout: ", `a duration needs a unit, e.g. "30s"`},
		{"4:1", "server.max_body_size: ", "must not be negative"},
		{"5:1", "server.write_timeout: ", "below the minimum 100ms"},
		{"10:1", "backends[0].connect_timeout: ", `a duration needs a unit, e.g. "2.5s"`},
		{"19:1", "groups[0].apis[0].timeout: ", `a duration needs a unit, e.g. "5s"`},
	})
}

// TestDefect12CheckRejectsBadPortsAndAddresses: a target port 99999 and a
// listen address 256.0.0.1:80 passed check.
func TestDefect12CheckRejectsBadPortsAndAddresses(t *testing.T) {
	path, lines := checkErrors(t, `[server]
listen = ["127.0.0.1:18080", "256.0.0.1:80"]
admin_listen = "127.0.0.1:0"

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:99999" }, { url = "http://10.0.0.300:80" }]
`)
	errorLines(t, strings.Join(lines, "\n"), path, [][3]string{
		{"2:30", "server.listen[1]: ", `"256.0.0.1" is not an IP address`},
		{"3:1", "server.admin_listen: ", "port must be 1..65535"},
		{"7:14", "backends[0].targets[0].url: ", "port must be 1..65535"},
		{"7:50", "backends[0].targets[1].url: ", `"10.0.0.300" is not an IP address`},
	})
}

// TestDefect16CheckReportsEveryParseError: a type error early in the file
// used to hide every unknown key and semantic error after it.
func TestDefect16CheckReportsEveryParseError(t *testing.T) {
	path, lines := checkErrors(t, `[server]
listen = "127.0.0.1:18080"
max_concurrent_requests = "many"

[[backends]]
name = "origin"
targets = [{ url = "http://127.0.0.1:18081", weight = "heavy" }]
host_header = "upstream"

[[groups]]
name = "g"
colour = "blue"

[[groups.apis]]
name = "a"
path = "/a"
backend = 7
`)
	errorLines(t, strings.Join(lines, "\n"), path, [][3]string{
		{"2:1", "server.listen: ", "want an array"},
		{"3:1", "server.max_concurrent_requests: ", "want a whole number, not a string"},
		{"7:46", "backends[0].targets[0].weight: ", "want a whole number"},
		{"8:1", "backends[0].host_header: ", `"upstream"`},
		{"12:1", "groups[0].colour: ", "unknown key"},
		// backend = 7 is one mistake: no second "backend is required".
		{"17:1", "groups[0].apis[0].backend: ", "want a string, not a bare number"},
	})
}

// TestDefect13HugeValues: a 50 MB string value made check use 2.25 GB for
// 12 s and print a 52 MB error line. The file is now read bounded and long
// values are quoted cut short.
func TestDefect13HugeValues(t *testing.T) {
	// Written in pieces: the child's max RSS counts the parent's at fork.
	path := filepath.Join(t.TempDir(), "huge.toml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	f.WriteString("[server]\nlisten = [\"")
	for range 50 {
		f.Write(chunk)
	}
	f.WriteString("\"]\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	chunk = nil
	debug.FreeOSMemory()
	// The child's max RSS also counts the parent's peak: Go starts children
	// with CLONE_VM, so exec records the shared memory's high-water mark.
	// Other tests in this process (and -count > 1) raise that peak, so it
	// is reset to the current RSS first (Linux clear_refs "5").
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("resetting this process's peak RSS: %v (the child's figure includes it)", err)
	}
	cmd := exec.Command(sluiceBin, "check", path)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("check: %v, want exit 1", err)
	}
	if errb.Len() > 200 || !strings.Contains(errb.String(), "larger than 16MiB") {
		t.Fatalf("stderr (%d bytes) %.300q: want one short line about the size", errb.Len(), errb.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 100<<10 { // KiB
		t.Errorf("check held %d MiB for a 50 MB file, want < 100 MiB", ru.Maxrss>>10)
	}
	if took > 10*time.Second {
		t.Errorf("check took %v", took)
	}

	// A long value within the size bound is quoted cut short.
	long := `[server]` + "\n" + `listen = ["` + strings.Repeat("y", 8<<20) + `"]` + "\n"
	_, lines := checkErrors(t, long)
	if len(lines) != 1 || len(lines[0]) > 400 || !strings.Contains(lines[0], "… (8388608 bytes)") {
		t.Fatalf("error lines %d, first %d bytes: %.400q", len(lines), len(lines[0]), lines[0])
	}
}

// TestCheckOpensNoSocket: compiling a config does no network I/O. A
// jwks_url used to start a fetch goroutine even in sluice check; fetchers
// now start only when a snapshot is put into service (Publish), and a
// served snapshot does fetch.
func TestCheckOpensNoSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			_ = c.Close()
		}
	}()
	path := writeTemp(t, "jwt.toml", `[server]
listen = ["127.0.0.1:18080"]

[[backends]]
name = "canned"
[backends.mock]
body = "{}"

[[groups]]
name = "g"
[groups.auth]
modes = ["jwt"]
[groups.auth.jwt]
jwks_url = "http://`+ln.Addr().String()+`/jwks"

[[groups.apis]]
name = "a"
path = "/a"
backend = "canned"
`)
	// The real check code path, in this process, so a stray fetch
	// goroutine would still be alive to connect after it returns.
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{path}, &stdout, &stderr); code != 0 {
		t.Fatalf("check: exit %d\n%s", code, stderr.String())
	}
	if _, _, code := runSluice(t, "check", path); code != 0 {
		t.Fatalf("sluice check: exit %d", code)
	}
	select {
	case <-accepted:
		t.Fatal("sluice check connected to the jwks_url")
	case <-time.After(300 * time.Millisecond):
	}

	p, err := policy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := proxy.New(proxy.Options{})
	snap, err := srv.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
		t.Fatal("compiling for the server connected before the snapshot was published")
	case <-time.After(100 * time.Millisecond):
	}
	srv.Publish(snap)
	defer snap.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("a published snapshot did not fetch its jwks_url")
	}
}
