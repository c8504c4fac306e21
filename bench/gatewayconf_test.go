package bench

import (
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/valyala/fasthttp"
)

func TestRenderGatewayConfigBase(t *testing.T) {
	conf, err := RenderGatewayConfig(GatewayParams{Listen: "127.0.0.1:1001", AdminListen: "127.0.0.1:1002", Origin: "127.0.0.1:1003"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg fakeGatewayConfig
	if err := toml.Unmarshal(conf, &cfg); err != nil {
		t.Fatalf("invalid TOML: %v\n%s", err, conf)
	}
	if cfg.Server.Listen[0] != "127.0.0.1:1001" || cfg.Server.AdminListen != "127.0.0.1:1002" ||
		cfg.Backends[0].Targets[0].URL != "http://127.0.0.1:1003" || cfg.Backends[0].PoolSize != 1024 {
		t.Errorf("decoded %+v", cfg)
	}
	api := cfg.Groups[0].APIs[0]
	if len(cfg.Groups[0].APIs) != 1 || api.Path != "/anon/{rest:*}" || api.BackendPath != "/{rest}" || api.Backend != "origin" {
		t.Errorf("api %+v", api)
	}
}

func TestRenderGatewayConfigExtraAPIs(t *testing.T) {
	conf, err := RenderGatewayConfig(GatewayParams{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Origin: "127.0.0.1:3", ExtraAPIs: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var cfg fakeGatewayConfig
	if err := toml.Unmarshal(conf, &cfg); err != nil {
		t.Fatal(err)
	}
	apis := cfg.Groups[0].APIs
	if len(apis) != 10001 || apis[1].Path != "/t00000/{rest:*}" || apis[10000].Name != "t09999" {
		t.Fatalf("%d apis, first extra %+v", len(apis), apis[1])
	}
	// The scenario's request paths hit routes that exist, spread over the table.
	sc, _ := ScenarioByName("apis-10k")
	paths := sc.Paths()
	if len(paths) != 64 || paths[0] != "/t00000/item?size=1024" || paths[63] != ExtraAPIPath(63*156, "item?size=1024") {
		t.Errorf("paths %v", paths[:2])
	}
	seen := map[string]bool{}
	for _, a := range apis {
		seen[strings.TrimSuffix(a.Path, "{rest:*}")] = true
	}
	for _, p := range paths {
		if !seen[p[:8]] {
			t.Errorf("path %s has no API", p)
		}
	}
	if _, err := RenderGatewayConfig(GatewayParams{ExtraAPIs: -1}); err == nil {
		t.Error("negative extra APIs accepted")
	}
}

// TestRenderGatewayConfigFeatureBlocks plugs a feature in the way the lead
// will, and checks where its blocks land and that scenarios then ask for it.
func TestRenderGatewayConfigFeatureBlocks(t *testing.T) {
	withoutFeatures(t) // this test is about scenarios whose features the gateway lacks
	sc, _ := ScenarioByName("full-chain")
	if _, err := RenderGatewayConfig(GatewayParams{Features: sc.Features}); err == nil {
		t.Fatal("config with missing features rendered")
	}
	saved := GatewayFeatures
	t.Cleanup(func() { GatewayFeatures = saved })
	GatewayFeatures = map[Feature]FeatureConfig{
		FeatureKeyAuth: {
			API:     "auth = \"key\"",
			Global:  "[[consumers]]\nname = \"bench\"\nkeys = [\"{{.Listen}}-key\"]",
			Headers: func(GatewayParams) []Header { return []Header{{"X-Api-Key", "k"}} },
		},
		FeatureThrottle:  {API: "[groups.apis.limits]\nper_second = 1000000"},
		FeatureAccessLog: {Global: "[access_log]\npath = \"{{.Dir}}/access.log\""},
	}
	if m := MissingFeatures(sc.Features); len(m) != 0 {
		t.Fatalf("missing %v", m)
	}
	conf, err := RenderGatewayConfig(GatewayParams{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Origin: "127.0.0.1:3",
		Features: sc.Features, Dir: "/tmp/x", ExtraAPIs: 1})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(conf, &doc); err != nil {
		t.Fatalf("invalid TOML: %v\n%s", err, conf)
	}
	s := string(conf)
	if !containsAll(s, "auth = \"key\"", "127.0.0.1:1-key", "/tmp/x/access.log") {
		t.Errorf("blocks missing:\n%s", s)
	}
	apis := doc["groups"].([]any)[0].(map[string]any)["apis"].([]any)
	bench := apis[0].(map[string]any)
	if bench["auth"] != "key" || bench["limits"] == nil || len(apis) != 2 || apis[1].(map[string]any)["auth"] != nil {
		t.Errorf("feature keys landed in the wrong table: %v", apis)
	}
	GatewayFeatures[FeatureKeyAuth] = FeatureConfig{API: "{{.Nope"}
	if _, err := RenderGatewayConfig(GatewayParams{Features: []Feature{FeatureKeyAuth}}); err == nil {
		t.Error("bad template accepted")
	}
}

func TestScenariosWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios {
		if seen[sc.Name] || sc.Title == "" || sc.Doc == "" || !strings.HasPrefix(sc.Path, "/") {
			t.Errorf("scenario %+v", sc)
		}
		seen[sc.Name] = true
		if sc.Method != fasthttp.MethodGet && sc.Method != fasthttp.MethodPost {
			t.Errorf("%s: method %s", sc.Name, sc.Method)
		}
		// Peers run only where PeerJob expresses every gateway feature.
		for _, f := range sc.Features {
			if sc.Peers && f != FeatureKeyAuth && f != FeatureThrottle && f != FeatureAccessLog && f != FeatureCache {
				t.Errorf("%s: peers cannot match gateway feature %s", sc.Name, f)
			}
		}
		if sc.Peers && sc.ExtraAPIs > 0 {
			t.Errorf("%s: peers cannot match extra APIs", sc.Name)
		}
		if sc.Baseline != "" {
			b, err := ScenarioByName(sc.Baseline)
			if err != nil || b.Baseline != "" || sc.Peers || b.Path != sc.Path || b.Method != sc.Method {
				t.Errorf("%s: baseline %q must be a plain scenario with the same load, and no peers", sc.Name, sc.Baseline)
			}
		}
		if sc.Peers && !strings.HasPrefix(sc.Path, "/anon/") {
			t.Errorf("%s: peer configs route /anon/ only", sc.Name)
		}
	}
	for name, p := range Presets {
		for _, s := range append(p.Scenarios, p.Capacity.Scenario) {
			if _, err := ScenarioByName(s); err != nil {
				t.Errorf("preset %s: %v", name, err)
			}
		}
	}
	if b := (&Scenario{BodyBytes: 30}).Body(); len(b) != 30 || b[27] != 'b' {
		t.Errorf("body %q", b)
	}
	if _, err := ScenarioByName("nope"); err == nil {
		t.Error("unknown scenario found")
	}
}
