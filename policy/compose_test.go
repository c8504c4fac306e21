package policy

import (
	"strings"
	"testing"
	"time"
)

const composeBase = `
[[backends]]
name = "users"
targets = [{ url = "http://127.0.0.1:9" }]
[[backends]]
name = "dash"
compose = [
  { backend = "users", path = "/users/{id}?q={query.q}", key = "user", timeout = "1s" },
  { name = "flags", backend = "users", method = "POST", path = "/flags/{consumer}", required = false, max_size = "4KiB" },
]
[[groups]]
name = "g"
[[groups.apis]]
name = "d"
path = "/d/{id}"
backend = "dash"
stages = ["RELEASE"]
`

func TestComposeCompiles(t *testing.T) {
	s := mustCompile(t, composeBase)
	if s.Backends[1].Upstream != nil || !s.Backends[1].IsComposite() {
		t.Fatal("a composite backend is not bound to a pool")
	}
	c := s.APIs[0].Composite
	if c == nil || len(c.Calls) != 2 || c.Parallel != DefaultComposeParallel {
		t.Fatalf("composite %+v", c)
	}
	u, f := c.Calls[0], c.Calls[1]
	if u.Name != "user" || string(u.Method) != "GET" || !u.Required || u.Timeout != time.Second ||
		u.MaxSize != DefaultComposeMaxSize || u.Backend != s.Backends[0] {
		t.Fatalf("call defaults %+v", u)
	}
	if f.Name != "flags" || string(f.Method) != "POST" || f.Required || f.MaxSize != 4<<10 || f.Key != "" {
		t.Fatalf("call %+v", f)
	}
	// {id} is the API's path parameter; the {query.q} part stands in the query.
	if u.Path[1].Kind != SrcPath || u.InQuery[1] || u.Path[3].Kind != SrcQuery || !u.InQuery[3] {
		t.Fatalf("template %+v inQuery %v", u.Path, u.InQuery)
	}
	s = mustCompile(t, strings.Replace(composeBase, `path = "/flags/{consumer}"`, `path = "/flags?team={call.user.profile.team}"`, 1))
	f = s.APIs[0].Composite.Calls[1]
	if len(f.Deps) != 1 || f.Deps[0].Call != 0 || strings.Join(f.Deps[0].Field, ".") != "profile.team" ||
		f.Path[f.Deps[0].Part].Kind != SrcCall || !f.InQuery[f.Deps[0].Part] {
		t.Fatalf("dependent call %+v", f)
	}
}

func TestComposeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{`backend = "users", path = "/users/{id}?q={query.q}"`, `backend = "nope", path = "/users/{id}"`, `unknown backend "nope"`},
		{`backend = "users", path = "/users/{id}?q={query.q}"`, `backend = "dash", path = "/users/{id}"`, "itself composite"},
		{`/users/{id}?q={query.q}`, `/users/{nope}`, "unknown source {nope}"},
		{`/users/{id}?q={query.q}`, `users`, "must start with '/'"},
		{`/users/{id}?q={query.q}`, `/users/{id} x`, "must not contain spaces"},
		{`method = "POST"`, `method = "post"`, "invalid method"},
		{`max_size = "4KiB"`, `max_size = "65MiB"`, "between 1B and 64MiB"},
		{`timeout = "1s"`, `timeout = "1ms"`, "below the minimum"},
		{`name = "flags", `, `name = "user", `, "duplicate call name"},
		{`compose = [`, "compose_parallel = 33\ncompose = [", "compose_parallel"},
		{`compose = [`, "targets = [{ url = \"http://127.0.0.1:9\" }]\ncompose = [", "not two of them"},
		{`stages = ["RELEASE"]`, "stages = [\"RELEASE\"]\nbackend_path = \"/x\"", "backend_path does not apply"},
		{`stages = ["RELEASE"]`, "stages = [\"RELEASE\"]\n[groups.apis.websocket]", "cannot tunnel WebSocket"},
		{`path = "/flags/{consumer}"`, `path = "/flags/{var.x}"`, "stage variable not defined"},
		{`path = "/flags/{consumer}"`, `path = "/flags/{call.flags.x}"`, `"flags" is not the name of an earlier call`},
		{`path = "/flags/{consumer}"`, `path = "/flags/{call.user}"`, "want {call.NAME.FIELD}"},
		{`path = "/flags/{consumer}"`, `path = "/flags/{call.user.a..b}"`, "want {call.NAME.FIELD}"},
	} {
		src := strings.Replace(composeBase, tc.from, tc.to, 1)
		if src == composeBase {
			t.Fatalf("case %q: %q not found", tc.want, tc.from)
		}
		_, err := compileString(t, src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: error %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}
