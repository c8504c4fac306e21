package bench

import (
	"testing"

	"github.com/sluicegw/sluice/policy"
)

// withoutFeatures empties GatewayFeatures for one test.
func withoutFeatures(t *testing.T) {
	saved := GatewayFeatures
	GatewayFeatures = map[Feature]FeatureConfig{}
	t.Cleanup(func() { GatewayFeatures = saved })
}

// TestFeatureConfigsCompile renders every scenario's gateway config with the
// real feature blocks and compiles it with the gateway's own compiler.
func TestFeatureConfigsCompile(t *testing.T) {
	for _, sc := range Scenarios {
		if len(MissingFeatures(sc.Features)) > 0 {
			continue
		}
		p := GatewayParams{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Origin: "127.0.0.1:3",
			Features: sc.Features, Dir: t.TempDir()}
		if sc.ExtraAPIs > 0 {
			p.ExtraAPIs = 100
		}
		cfg, err := RenderGatewayConfig(p)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		parsed, err := policy.Parse(sc.Name+".toml", cfg)
		if err == nil {
			_, err = policy.Compile(parsed, policy.Options{})
		}
		if err != nil {
			t.Errorf("%s: gateway rejects its config: %v\n%s", sc.Name, err, cfg)
		}
		for _, f := range sc.Features {
			fc := GatewayFeatures[f]
			if fc.NewSigner != nil {
				if _, err := fc.NewSigner(p); err != nil {
					t.Errorf("%s: signer: %v", f, err)
				}
			}
			if fc.Headers != nil && len(fc.Headers(p)) == 0 {
				t.Errorf("%s: no headers", f)
			}
		}
	}
	if len(MissingFeatures([]Feature{FeatureKeyAuth, FeatureThrottle, FeatureAccessLog, FeatureHMAC, FeatureJWT})) != 0 {
		t.Fatal("a built feature has no config block")
	}
}
