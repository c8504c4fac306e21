package cors

import (
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestConfigFromTOML(t *testing.T) {
	doc := `
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["GET", "PUT"]
allow_headers = ["Content-Type"]
expose_headers = ["X-Total"]
allow_credentials = true
max_age = "10m"
`
	var cfg Config
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.MaxAge) != 10*time.Minute || !cfg.AllowCredentials || len(cfg.AllowOrigins) != 2 {
		t.Fatalf("%+v", cfg)
	}
	p, err := Compile(cfg)
	if err != nil || string(p.maxAge) != "600" {
		t.Fatalf("%v %q", err, p.maxAge)
	}
	err = toml.Unmarshal([]byte(`max_age = "ten minutes"`), &cfg)
	if err == nil || !strings.Contains(err.Error(), `invalid duration "ten minutes"`) {
		t.Fatalf("bad duration: %v", err)
	}
	if b, _ := cfg.MaxAge.MarshalText(); string(b) != "10m0s" {
		t.Fatalf("MarshalText = %s", b)
	}
}
