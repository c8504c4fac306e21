package bench

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pelletier/go-toml/v2"
	"github.com/sluicegw/sluice/policy"
)

// This file renders an operator's config for a replay on loopback: same
// groups, APIs, policies and limits, but every upstream is the replay
// origin, listeners are free loopback ports, the access log goes to a temp
// file and every credential is generated here, so the harness can sign as
// each logged consumer without knowing a real secret.
//
// The config is edited as a TOML tree, not as policy.Config, so everything
// the harness does not need to change is passed through exactly as the
// operator wrote it (durations, sizes, defaults left unset), and checked
// by policy.Parse and policy.Compile afterwards.

// replayParams are the values a replay config is rendered with.
type replayParams struct {
	Listen, Admin string
	// Origins are the replay origins' "host:port": the backends' targets
	// take them in turn, so each production target has its own address
	// (and the gateway its own connection pool for it) while they last.
	Origins []string
	// LogPath is the access-log file. With ForceLog (the mix check) a file
	// sink is added to a config that has no access log and sampling is
	// off; otherwise the log is as configured, absent or sampled.
	LogPath  string
	ForceLog bool
}

// replayAuth is how one API authenticates, as far as a replay needs it.
type replayAuth struct {
	Modes     []string
	KeyHeader string
	JWT       *replayJWT
}

// replayJWT is what a generated token must carry to pass an API's checks.
type replayJWT struct {
	Header, Cookie string
	Issuer         string
	Audience       string
	ConsumerClaim  string
	Claims         map[string]any
}

// replayCreds are the generated credentials of a rendered config.
type replayCreds struct {
	// APIKeys and Apps are per consumer name.
	APIKeys map[string]string
	Apps    map[string][2]string // app key, app secret
	// JWTSecret signs every token (HS256, kid replayJWTKid).
	JWTSecret string
	// Auth is per API ("group/api"); APIs without auth are absent.
	Auth map[string]*replayAuth
	// APIs holds every API of the config ("group/api") with its stages.
	APIs map[string][]string
	// Calls is, per API on a composite backend ("group/api"), how many
	// calls each of its requests makes; the replay answers each with that
	// share of the logged answer size.
	Calls map[string]int
	// Notes are the config's parts a loopback replay cannot keep as they
	// are, for the report.
	Notes []string
}

const replayJWTKid = "sluice-plan"

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// loadOperatorConfig parses the operator's config strictly (unknown keys and
// bad values are errors naming file, line and column).
func loadOperatorConfig(path string) (*policy.Parsed, []byte, error) {
	raw, err := policy.ReadBounded(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	p, err := policy.Parse(path, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return p, raw, nil
}

// tomlTable returns m[key] as a table, or nil.
func tomlTable(m map[string]any, key string) map[string]any {
	t, _ := m[key].(map[string]any)
	return t
}

// tomlTables returns m[key] as an array of tables.
func tomlTables(m map[string]any, key string) []map[string]any {
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		if t, ok := v.(map[string]any); ok {
			out = append(out, t)
		}
	}
	return out
}

// renderReplayConfig renders the operator's config for a replay. The
// credentials are generated once per plan (creds may be passed in from an
// earlier render so several gateway starts share them).
func renderReplayConfig(parsed *policy.Parsed, raw []byte, p replayParams, creds *replayCreds) ([]byte, *replayCreds, error) {
	var tree map[string]any
	if err := toml.Unmarshal(raw, &tree); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	if creds == nil {
		creds = newReplayCreds(parsed.Config)
	}
	note := func(format string, a ...any) {
		n := fmt.Sprintf(format, a...)
		for _, have := range creds.Notes {
			if have == n {
				return
			}
		}
		creds.Notes = append(creds.Notes, n)
	}

	// Listeners: loopback, plain HTTP. TLS is not replayed (the load
	// generator speaks plain HTTP); the handshake cost is measured by
	// `sluice-bench tls-load`.
	server := tomlTable(tree, "server")
	if server == nil {
		server = map[string]any{}
		tree["server"] = server
	}
	if ls := tomlTables(server, "listeners"); len(ls) > 0 {
		for _, l := range ls {
			if b, _ := l["tls"].(bool); b {
				note("TLS listeners are replayed as plain HTTP (TLS cost: see sluice-bench tls-load)")
			}
		}
		delete(server, "listeners")
	}
	// The replay comes from 127.0.0.1 and carries each logged client
	// address in X-Forwarded-For; trusting loopback as a proxy makes the
	// gateway see those addresses, so IP access lists, client-IP limits
	// and consumer CIDRs act on production's clients, not on one address.
	tp, _ := server["trusted_proxies"].([]any)
	if len(tp) == 0 {
		note("127.0.0.1 is a trusted proxy in the replay so the logged client addresses apply (X-Forwarded-For): the gateway reads that header for every request, which a config without trusted_proxies does not")
	}
	server["trusted_proxies"] = append(tp, "127.0.0.1/32")
	server["listen"] = []any{p.Listen}
	server["admin_listen"] = p.Admin
	delete(server, "admin_token")
	server["watch_config"] = false
	delete(tree, "demo_origin")
	if tree["tls"] != nil {
		delete(tree, "tls")
	}

	// State shared through Redis is kept on this node: the replay has no
	// fleet. Local buckets cost less than leases, so say so.
	if st := tomlTable(tree, "state"); st != nil && st["redis"] != nil {
		delete(st, "redis")
		note("[state.redis] removed: limits, quotas and nonces are local in the replay (a fleet's Redis leases cost slightly more)")
	}

	// Backends: every target answers from a replay origin, weights kept,
	// so balancing and per-target pools work as in production.
	next := 0
	for _, b := range tomlTables(tree, "backends") {
		if ts := tomlTables(b, "targets"); len(ts) > 0 {
			out := make([]any, 0, len(ts))
			for _, t := range ts {
				nt := map[string]any{"url": "http://" + p.Origins[next%len(p.Origins)]}
				if w, ok := t["weight"]; ok {
					nt["weight"] = w
				}
				out = append(out, nt)
				next++
			}
			b["targets"] = out
			delete(b, "tls")
		}
		// A composite's calls carry the client's headers, so each gets the
		// request's answer header (buildReplay divides its size).
		if calls, _ := b["compose"].([]any); len(calls) > 0 {
			name, _ := b["name"].(string)
			note("composite backend %q: each of its %d calls is answered after the request's logged backend time with 1/%d of its logged answer size (a JSON object); a call templated on an earlier call's field ({call.NAME.FIELD}) finds none and fails",
				name, len(calls), len(calls))
		}
	}
	if next > len(p.Origins) {
		note("the config has %d backend targets and the replay %d origins: targets share origins (and the gateway's connection pools) in turn", next, len(p.Origins))
	}

	// Groups and APIs: TLS settings go with the TLS listeners, JWT
	// verifiers use the generated key.
	for _, g := range tomlTables(tree, "groups") {
		for _, k := range []string{"certificates", "acme", "redirect_https", "hsts", "client_auth", "client_ca", "client_identity_header"} {
			if _, ok := g[k]; ok {
				delete(g, k)
				note("group TLS settings (%s) removed: the replay is plain HTTP", k)
			}
		}
		rewritePolicies(g, creds, note)
		for _, a := range tomlTables(g, "apis") {
			rewritePolicies(a, creds, note)
		}
	}

	// Consumers: generated credentials.
	for _, c := range tomlTables(tree, "consumers") {
		name, _ := c["name"].(string)
		if _, ok := c["api_keys"]; ok {
			c["api_keys"] = []any{creds.APIKeys[name]}
		}
		if apps := tomlTables(c, "apps"); len(apps) > 0 {
			kept := []any{}
			app := creds.Apps[name]
			for _, a := range apps {
				if a["app_key"] == app[0] {
					a["app_secrets"] = []any{app[1]}
					kept = append(kept, a)
				}
			}
			c["apps"] = kept
		}
		if _, ok := c["client_certificates"]; ok {
			delete(c, "client_certificates")
			note("consumer client certificates removed: mTLS is not replayed")
		}
	}

	// Access log: the configured format, sampling and batching, into a file.
	al := tomlTable(tree, "access_log")
	switch {
	case al != nil:
		al["sinks"] = []any{map[string]any{"type": "file", "path": p.LogPath}}
		if p.ForceLog {
			delete(al, "sample_rate") // the mix check counts every request
		}
	case p.ForceLog:
		tree["access_log"] = map[string]any{"sinks": []any{map[string]any{"type": "file", "path": p.LogPath}}}
	}

	out, err := toml.Marshal(tree)
	if err != nil {
		return nil, nil, fmt.Errorf("render replay config: %w", err)
	}
	out = append([]byte("# Generated by sluice-bench plan from "+parsed.File+"; do not edit.\n"), out...)
	if err := checkReplayConfig(parsed, out); err != nil {
		return nil, nil, err
	}
	return out, creds, nil
}

// rewritePolicies edits the policy tables of a group or an API.
func rewritePolicies(t map[string]any, creds *replayCreds, note func(string, ...any)) {
	auth := tomlTable(t, "auth")
	if auth == nil {
		return
	}
	j := tomlTable(auth, "jwt")
	if j == nil {
		return
	}
	if iss, _ := j["oidc_issuer"].(string); iss != "" && j["issuer"] == nil {
		j["issuer"] = iss // the OIDC issuer was the required "iss"
	}
	for _, k := range []string{"jwks_url", "oidc_issuer", "allow_http", "refresh_interval", "min_refetch_interval", "fetch_timeout", "max_jwks_size", "rsa_alg"} {
		delete(j, k)
	}
	j["keys"] = []any{map[string]any{"kid": replayJWTKid, "alg": "HS256", "secret": creds.JWTSecret}}
	note("JWT keys (inline, JWKS, OIDC) replaced by one generated HS256 key: signature checks cost what an HS256 check costs, and verified tokens are cached as in production")
}

// checkReplayConfig compiles the rendered config. When it fails, the
// operator's own file is compiled too, so a mistake there is reported at
// its own line rather than at a line of the generated file.
func checkReplayConfig(parsed *policy.Parsed, out []byte) error {
	rp, err := policy.Parse("replay.toml", out)
	if err == nil {
		var snap *policy.Snapshot
		if snap, err = policy.Compile(rp, policy.Options{}); err == nil {
			snap.Close()
			return nil
		}
	}
	if snap, oerr := policy.Compile(parsed, policy.Options{}); oerr != nil {
		return fmt.Errorf("config: %w", oerr)
	} else {
		snap.Close()
	}
	return fmt.Errorf("the replay config rendered from %s does not compile (a feature plan cannot replay?): %w", parsed.File, err)
}

// newReplayCreds generates credentials for every consumer of cfg and
// records each API's authentication.
func newReplayCreds(cfg *policy.Config) *replayCreds {
	c := &replayCreds{APIKeys: map[string]string{}, Apps: map[string][2]string{},
		JWTSecret: randHex(32), Auth: map[string]*replayAuth{}, APIs: map[string][]string{}, Calls: map[string]int{}}
	c.fill(cfg)
	return c
}

// fill generates credentials for every consumer and records each API's
// authentication.
func (c *replayCreds) fill(cfg *policy.Config) {
	for _, con := range cfg.Consumers {
		if len(con.APIKeys) > 0 {
			c.APIKeys[con.Name] = "plan-" + randHex(16)
		}
		if len(con.Apps) > 0 {
			c.Apps[con.Name] = [2]string{con.Apps[0].AppKey, randHex(24)}
		}
	}
	calls := map[string]int{}
	for _, b := range cfg.Backends {
		if len(b.Compose) > 0 {
			calls[b.Name] = len(b.Compose)
		}
	}
	for _, g := range cfg.Groups {
		for _, a := range g.APIs {
			key := g.Name + "/" + a.Name
			c.APIs[key] = a.Stages
			// A backend named through a stage variable is not resolved
			// here: its answers are replayed whole.
			if n := calls[a.Backend]; n > 0 {
				c.Calls[key] = n
			}
			auth := a.Auth
			if auth == nil {
				auth = g.Auth
			}
			if auth == nil {
				continue
			}
			ra := &replayAuth{Modes: auth.Modes, KeyHeader: auth.KeyHeader}
			if ra.KeyHeader == "" {
				ra.KeyHeader = "X-Api-Key"
			}
			if j := auth.JWT; j != nil {
				rj := &replayJWT{Header: j.Header, Cookie: j.Cookie, Issuer: j.Issuer, ConsumerClaim: auth.JWTConsumerClaim,
					Claims: map[string]any{}}
				if rj.Issuer == "" {
					rj.Issuer = j.OIDCIssuer
				}
				if len(j.Audiences) > 0 {
					rj.Audience = j.Audiences[0]
				}
				if rj.ConsumerClaim == "" {
					rj.ConsumerClaim = "sub"
				}
				for _, r := range j.RequiredClaims {
					switch {
					case r.Equals != "":
						rj.Claims[r.Claim] = r.Equals
					case len(r.OneOf) > 0:
						rj.Claims[r.Claim] = r.OneOf[0]
					case len(r.Contains) > 0:
						// Several rules may each want words of one claim
						// ("scope" contains read, another rule write):
						// the token carries all of them.
						words := strings.Join(r.Contains, " ")
						if prev, ok := rj.Claims[r.Claim].(string); ok && prev != "" {
							words = prev + " " + words
						}
						rj.Claims[r.Claim] = words
					}
				}
				ra.JWT = rj
			}
			c.Auth[key] = ra
		}
	}
}

// token returns a signed JWT for consumer that passes ra's checks.
func (c *replayCreds) token(ra *replayAuth, consumer string) (string, error) {
	if ra.JWT == nil {
		return "", errors.New("API has no JWT verifier")
	}
	claims := jwt.MapClaims{"iat": time.Now().Unix(), "exp": time.Now().Add(24 * time.Hour).Unix()}
	for k, v := range ra.JWT.Claims {
		claims[k] = v
	}
	if ra.JWT.Issuer != "" {
		claims["iss"] = ra.JWT.Issuer
	}
	if ra.JWT.Audience != "" {
		claims["aud"] = ra.JWT.Audience
	}
	if consumer != "" {
		claims[ra.JWT.ConsumerClaim] = consumer
	} else if _, ok := claims["sub"]; !ok {
		claims["sub"] = "plan-anonymous"
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = replayJWTKid
	return tok.SignedString([]byte(c.JWTSecret))
}

// anyApp returns consumer's app key, or else the first consumer's by name
// (a failed signature names no consumer in the log).
func (c *replayCreds) anyApp(consumer string) (string, bool) {
	if a, ok := c.Apps[consumer]; ok {
		return a[0], true
	}
	names := make([]string, 0, len(c.Apps))
	for n := range c.Apps {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", false
	}
	sort.Strings(names)
	return c.Apps[names[0]][0], true
}

// apiNames lists the config's APIs, for error messages.
func (c *replayCreds) apiNames() string {
	names := make([]string, 0, len(c.APIs))
	for n := range c.APIs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return strings.Join(names, ", ")
}
