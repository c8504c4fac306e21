package jwtauth

import (
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestCompileErrors(t *testing.T) {
	testKeys(t)
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	hs := KeyConfig{Alg: "HS256", Secret: string(hsSecret)}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no keys"},
		{Config{Keys: []KeyConfig{hs}, Header: "X-T", Cookie: "c"}, "mutually exclusive"},
		{Config{Keys: []KeyConfig{hs}, Header: "X T"}, "not a valid header name"},
		{Config{Keys: []KeyConfig{{PEM: rsaPEM}}}, "keys[0]: RSA key needs alg"},
		{Config{Keys: []KeyConfig{{Alg: "HS256", PEM: rsaPEM}}}, "does not fit"},
		{Config{Keys: []KeyConfig{{Alg: "none", Secret: "x"}}}, `alg "none" is not supported`},
		{Config{Keys: []KeyConfig{{Alg: "HS256", Secret: "short"}}}, "at least 32 required"},
		{Config{Keys: []KeyConfig{{Alg: "HS256", Secret: "x", PEM: rsaPEM}}}, "exactly one of"},
		{Config{Keys: []KeyConfig{{Alg: "HS256", SecretEnv: "SLUICE_JWT_TEST_UNSET"}}}, "empty or unset"},
		{Config{Keys: []KeyConfig{{Alg: "ES384", PEM: pemOf(t, &ecKey.PublicKey)}}}, "does not fit"},
		{Config{Keys: []KeyConfig{{PEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}}, "private key"},
		{Config{Keys: []KeyConfig{{JWK: `{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB"}`}}}, "bits"},
		{Config{Keys: []KeyConfig{{Alg: "ES256", JWK: rsaJWK(&rsaKey.PublicKey, "k", "RS256")}}}, "conflicts"},
		{Config{Keys: []KeyConfig{{JWK: `{"kty":"oct","k":"AAAA"}`}}}, "needs alg"},
		{Config{Keys: []KeyConfig{{JWK: `{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","d":"AAAA"}`}}}, "private key material"},
		{Config{JWKSURL: "http://idp.example/jwks"}, "uses http"},
		{Config{JWKSURL: "ftp://idp.example/jwks"}, "scheme must be https"},
		{Config{JWKSURL: "https://a/jwks", OIDCIssuer: "https://a"}, "mutually exclusive"},
		{Config{Keys: []KeyConfig{hs}, RSAAlg: "HS256"}, "rsa_alg"},
		{Config{Keys: []KeyConfig{hs}, Realm: `a"b`}, "realm"},
		{Config{Keys: []KeyConfig{hs}, RequiredClaims: []ClaimRule{{Claim: "scope"}}}, "required_claims[0]"},
		{Config{Keys: []KeyConfig{hs}, RequiredClaims: []ClaimRule{{Claim: "scope", Contains: []string{"a b"}}}}, "has a space"},
		{Config{Keys: []KeyConfig{hs}, ForwardClaims: map[string]string{"a": "X-A", "b": "x-a"}}, "both set header"},
	}
	for _, c := range cases {
		_, err := NewRegistry().Compile(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%+v) error = %v, want it to mention %q", c.cfg, err, c.want)
		}
	}
	if v, err := NewRegistry().Compile(Config{JWKSURL: "http://127.0.0.1:1/jwks"}); err != nil {
		t.Errorf("loopback http refused: %v", err)
	} else {
		v.Close()
	}
	t.Setenv("SLUICE_JWT_TEST_SECRET", string(hsSecret))
	if _, err := NewRegistry().Compile(Config{Keys: []KeyConfig{{Alg: "HS512", SecretEnv: "SLUICE_JWT_TEST_SECRET"}}}); err != nil {
		t.Errorf("secret_env: %v", err)
	}
}

func TestConfigTOML(t *testing.T) {
	doc := `
header = "X-Access-Token"
jwks_url = "https://idp.example/.well-known/jwks.json"
refresh_interval = "15m"
min_refetch_interval = "1m"
fetch_timeout = "2s"
max_jwks_size = "512KiB"
leeway = "10s"
issuer = "https://idp.example/"
audiences = ["orders"]
max_token_size = "16KiB"
forward_claims = { sub = "X-User-Id", tenant = "X-Tenant" }

[[required_claims]]
claim = "scope"
contains = ["orders:read"]
`
	var cfg Config
	if err := toml.NewDecoder(strings.NewReader(doc)).DisallowUnknownFields().Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.RefreshInterval) != 15*time.Minute || cfg.MaxJWKSSize != 512<<10 || cfg.MaxTokenSize != 16<<10 ||
		cfg.ForwardClaims["tenant"] != "X-Tenant" || cfg.RequiredClaims[0].Contains[0] != "orders:read" {
		t.Fatalf("decoded %+v", cfg)
	}
	reg := NewRegistry()
	v, err := reg.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Source() != (Source{Kind: SourceHeader, Name: "X-Access-Token"}) || v.leeway != 10 || v.maxToken != 16<<10 {
		t.Fatalf("compiled %+v", v)
	}
	var bad Config
	if err := toml.Unmarshal([]byte(`leeway = "-1s"`), &bad); err == nil {
		t.Fatal("negative duration accepted")
	}
	if err := toml.Unmarshal([]byte(`max_token_size = "1XB"`), &bad); err == nil {
		t.Fatal("bad size accepted")
	}
}
