package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func adminDo(t *testing.T, g *gateway, method, path, token string) (int, []byte, *fasthttp.ResponseHeader) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + g.adminAt + path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if err := fasthttp.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	h := &fasthttp.ResponseHeader{}
	resp.Header.CopyTo(h)
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), h
}

const adminConfig = `
[[backends]]
name = "origin"
targets = [{ url = "{{ORIGIN}}" }]
[[groups]]
name = "g"
hosts = ["api.example.com"]
[[groups.apis]]
name = "u"
methods = ["GET"]
path = "/u/{id}"
backend = "origin"
stages = ["RELEASE"]
`

func TestAdminEndpoints(t *testing.T) {
	g := startGateway(t, adminConfig)
	g.do("GET", "/u/1", map[string]string{"Host": "api.example.com"}, nil)

	if st, body, _ := adminDo(t, g, "GET", "/healthz", ""); st != 200 || !strings.Contains(string(body), "ok") {
		t.Fatalf("healthz %d %s", st, body)
	}
	if st, body, _ := adminDo(t, g, "GET", "/readyz", ""); st != 200 || !strings.Contains(string(body), "ready") {
		t.Fatalf("readyz %d %s", st, body)
	}
	st, body, h := adminDo(t, g, "GET", "/metrics", "")
	if st != 200 || !strings.HasPrefix(string(h.ContentType()), "text/plain") ||
		!strings.Contains(string(body), `sluice_requests_total{group="g",api="u",stage="RELEASE",class="2xx"} `) ||
		!strings.Contains(string(body), "sluice_config_reloads_total") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics %d: %.400s", st, body)
	}
	st, body, _ = adminDo(t, g, "GET", "/admin/routes", "")
	var rows []map[string]any
	if st != 200 || json.Unmarshal(body, &rows) != nil || len(rows) != 1 || rows[0]["path"] != "/u/{id}" ||
		rows[0]["api"] != "u" || rows[0]["stage"] != "RELEASE" {
		t.Fatalf("routes %d %s", st, body)
	}
	st, body, _ = adminDo(t, g, "POST", "/admin/reload", "")
	if st != 200 || !strings.Contains(string(body), `"version": 2`) {
		t.Fatalf("reload %d %s", st, body)
	}
	if st, body, h := adminDo(t, g, "GET", "/admin/reload", ""); st != 405 || !strings.Contains(string(body), "MethodNotAllowed") {
		t.Fatalf("GET reload %d %s %s", st, body, h)
	}
	if st, body, _ := adminDo(t, g, "GET", "/nope", ""); st != 404 || !strings.Contains(string(body), `"code":"NotFound"`) {
		t.Fatalf("unknown admin path %d %s", st, body)
	}
}

func TestAdminToken(t *testing.T) {
	t.Setenv("SLUICE_TEST_ADMIN_TOKEN", "t0ken-for-tests")
	g := startGateway(t, "[server]\nadmin_token = \"env:SLUICE_TEST_ADMIN_TOKEN\"\n"+adminConfig)
	for _, path := range []string{"/metrics", "/admin/config", "/admin/routes"} {
		st, body, h := adminDo(t, g, "GET", path, "")
		if st != 401 || !strings.Contains(string(h.Peek("WWW-Authenticate")), "Bearer") {
			t.Fatalf("%s without token: %d %s", path, st, body)
		}
		if st, _, _ := adminDo(t, g, "GET", path, "wrong"); st != 401 {
			t.Fatalf("%s with a wrong token: %d", path, st)
		}
		if st, body, _ := adminDo(t, g, "GET", path, "t0ken-for-tests"); st != 200 {
			t.Fatalf("%s with the token: %d %s", path, st, body)
		}
	}
	// Health probes stay open for load balancers; the token never shows.
	if st, _, _ := adminDo(t, g, "GET", "/healthz", ""); st != 200 {
		t.Fatal("healthz needs no token")
	}
	_, body, _ := adminDo(t, g, "GET", "/admin/config", "t0ken-for-tests")
	if strings.Contains(string(body), "t0ken-for-tests") {
		t.Fatal("admin config shows the token")
	}
}
