package policy

import (
	"strings"
	"testing"
)

const bodyBase = `
[[backends]]
name = "b"
targets = [{ url = "http://127.0.0.1:9" }]
[[groups]]
name = "g"
[[groups.apis]]
name = "a"
path = "/a"
backend = "b"
stages = ["RELEASE"]
[groups.apis.transform.request_body]
remove = ["x.y"]
rename = { "userName" = "user.name" }
set = { "meta.v" = 2, "tags" = ["a", "<b>"], "nested" = { k = true } }
[groups.apis.transform.response_body]
remove = ["internal"]
max_size = "2KiB"
`

func TestBodyTransformCompiles(t *testing.T) {
	s := mustCompile(t, bodyBase)
	a := s.APIs[0]
	if !a.ReadsBody {
		t.Fatal("a request body transform must make the API buffer its body")
	}
	rb, sb := a.Transform.RequestBody, a.Transform.ResponseBody
	if rb.MaxSize != DefaultBodyTransformMax || sb.MaxSize != 2<<10 {
		t.Fatalf("max sizes %d %d", rb.MaxSize, sb.MaxSize)
	}
	if len(rb.Remove) != 1 || strings.Join(rb.Remove[0], "/") != "x/y" ||
		len(rb.Rename) != 1 || strings.Join(rb.Rename[0].To, "/") != "user/name" {
		t.Fatalf("ops %+v", rb)
	}
	got := map[string]string{}
	for _, s := range rb.Set {
		got[strings.Join(s.Path, ".")] = string(s.Value)
	}
	want := map[string]string{"meta.v": "2", "tags": `["a","<b>"]`, "nested": `{"k":true}`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("set %s = %s, want %s", k, got[k], v)
		}
	}
}

func TestBodyTransformConfigErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{`remove = ["x.y"]`, `remove = ["x..y"]`, "invalid field path"},
		{`rename = { "userName" = "user.name" }`, `rename = { "userName" = ".name" }`, "invalid field path"},
		{`max_size = "2KiB"`, `max_size = "65MiB"`, "between 1B and 64MiB"},
		{`remove = ["internal"]`, `removes = ["internal"]`, "removes"},
	} {
		src := strings.Replace(bodyBase, tc.from, tc.to, 1)
		_, err := compileString(t, src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.to, err, tc.want)
		}
	}
}
