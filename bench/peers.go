package bench

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed peers/*.tmpl
var peerTemplates embed.FS

// PeerJob is the policy work a scenario asks of the peers besides proxying:
// the part of the gateway's features a stock nginx, HAProxy or Caddy can
// express in its own config. Scenario.PeerJob derives it from the features.
type PeerJob struct {
	// AccessLog logs every request to a file (HAProxy: to stdout, which the
	// harness redirects to a file).
	AccessLog bool `json:"access_log,omitempty"`
	// KeyHeader and APIKey, when APIKey is set, let through only requests
	// whose KeyHeader equals APIKey exactly; others get 401.
	KeyHeader string `json:"key_header,omitempty"`
	APIKey    string `json:"-"`
	// Limits, when set, are three request-rate limits (per client IP, per
	// API key, one for the whole API); a request over any gets 429. Caddy
	// has no rate limiter in its stock build and ignores them.
	Limits *PeerLimits `json:"limits,omitempty"`
	// Cache answers repeated GETs from a response cache (nginx's
	// proxy_cache, 60 s for 200s). Only peers with caches set run it.
	Cache bool `json:"cache,omitempty"`
}

// PeerLimits are the three rate limits of PeerJob.
type PeerLimits struct {
	ClientIP, Key, API PeerRate
}

// PeerRate is one limit: Rate requests per second with a burst of Burst
// requests (HAProxy's sliding one-second counters have no burst: they deny
// when more than Rate requests arrived in the last second).
type PeerRate struct {
	Rate, Burst int
}

// PeerParams are the values a peer config is rendered from.
type PeerParams struct {
	// Listen is the peer's "127.0.0.1:port"; Host and Port are its parts.
	Listen, Host, Port string
	// Origin is the origin stub's "host:port".
	Origin string
	// Prefix is the path prefix stripped before proxying ("/anon").
	Prefix string
	// Dir is the peer's temp dir: pid file, error and access logs, temp files.
	Dir string
	// PeerJob is the policy work besides proxying.
	PeerJob
	// KeyVar is nginx's variable for KeyHeader ("http_x_api_key").
	KeyVar string
	// FDLimit is the hard RLIMIT_NOFILE, the descriptor limit HAProxy asks for.
	FDLimit uint64
	// User is nginx's worker user; set to "root" when the harness runs as
	// root, so workers can use the temp dir (empty: directive omitted).
	User string
}

// NewPeerParams fills PeerParams for a peer listening on listen. The key
// and header name are checked against a conservative alphabet because they
// are written into config files unquoted or double-quoted.
func NewPeerParams(listen, origin, dir string, job PeerJob) (PeerParams, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return PeerParams{}, err
	}
	if err := CheckLoopbackAddr(listen); err != nil {
		return PeerParams{}, err
	}
	if job.APIKey != "" {
		if job.KeyHeader == "" {
			job.KeyHeader = "X-Api-Key"
		}
		if !configSafe(job.APIKey, "-_.") || !configSafe(job.KeyHeader, "-") {
			return PeerParams{}, fmt.Errorf("bench: API key or key header has characters unsafe in a peer config")
		}
	}
	if l := job.Limits; l != nil {
		for _, r := range []PeerRate{l.ClientIP, l.Key, l.API} {
			if r.Rate < 1 || r.Burst < 0 {
				return PeerParams{}, fmt.Errorf("bench: peer rate limit %+v: want rate >= 1, burst >= 0", r)
			}
		}
	}
	p := PeerParams{Listen: listen, Host: host, Port: port, Origin: origin, Prefix: "/anon", Dir: dir, PeerJob: job,
		FDLimit: 20000}
	if job.KeyHeader != "" {
		p.KeyVar = "http_" + strings.ReplaceAll(strings.ToLower(job.KeyHeader), "-", "_")
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Max > 0 && rl.Max < 1<<20 {
		p.FDLimit = rl.Max
	}
	if os.Geteuid() == 0 {
		p.User = "root"
	}
	return p, nil
}

// configSafe reports whether s is non-empty ASCII letters and digits plus extra.
func configSafe(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// Peer is a reverse proxy Sluice is compared with.
type Peer struct {
	// Name is the target name in reports: "nginx", "haproxy", "caddy".
	Name string
	// Binary is the executable looked up in PATH and /usr/sbin.
	Binary string
	// ConfigName is the generated config's file name in the temp dir.
	ConfigName string
	tmpl       string
	runArgs    func(bin, conf string, p PeerParams) []string
	checkArgs  func(bin, conf string, p PeerParams) []string
	env        []string
	dirs       []string // created in the temp dir before start
	caches     bool     // its template can do PeerJob.Cache
}

// Peers are the peer proxies, in report order.
var Peers = []Peer{
	{
		Name: "nginx", Binary: "nginx", ConfigName: "nginx.conf", tmpl: "peers/nginx.conf.tmpl",
		runArgs: func(bin, conf string, p PeerParams) []string { return []string{bin, "-p", p.Dir, "-c", conf} },
		checkArgs: func(bin, conf string, p PeerParams) []string {
			return []string{bin, "-t", "-q", "-p", p.Dir, "-c", conf}
		},
		dirs:   []string{"nginx-client-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi", "nginx-cache", "logs"},
		caches: true,
	},
	{
		Name: "haproxy", Binary: "haproxy", ConfigName: "haproxy.cfg", tmpl: "peers/haproxy.cfg.tmpl",
		// -db: stay in the foreground, no daemon, no master-worker.
		runArgs:   func(bin, conf string, _ PeerParams) []string { return []string{bin, "-db", "-f", conf} },
		checkArgs: func(bin, conf string, _ PeerParams) []string { return []string{bin, "-c", "-q", "-f", conf} },
	},
	{
		Name: "caddy", Binary: "caddy", ConfigName: "Caddyfile", tmpl: "peers/Caddyfile.tmpl",
		runArgs: func(bin, conf string, _ PeerParams) []string {
			return []string{bin, "run", "--config", conf, "--adapter", "caddyfile"}
		},
		checkArgs: func(bin, conf string, _ PeerParams) []string {
			return []string{bin, "validate", "--config", conf, "--adapter", "caddyfile"}
		},
		// One P for one core, as nginx runs one worker and HAProxy one thread.
		env:  []string{"GOMAXPROCS=1"},
		dirs: []string{"caddy-data", "caddy-home"},
	},
}

// PeerByName returns the named peer.
func PeerByName(name string) (Peer, bool) {
	for _, p := range Peers {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}

// Lookup finds the peer's executable in PATH or /usr/sbin (where Debian puts
// nginx and haproxy, outside a non-root PATH).
func (pe Peer) Lookup() (string, error) {
	if bin, err := exec.LookPath(pe.Binary); err == nil {
		return bin, nil
	}
	sbin := "/usr/sbin/" + pe.Binary
	if st, err := os.Stat(sbin); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return sbin, nil
	}
	return "", fmt.Errorf("%s not installed (bench/peers/install.sh installs it)", pe.Binary)
}

// Render returns the peer's config for p.
func (pe Peer) Render(p PeerParams) ([]byte, error) {
	if p.Cache && !pe.caches {
		return nil, fmt.Errorf("bench: %s: no response cache in its bench config (cache-hit compares with nginx's proxy_cache)", pe.Name)
	}
	src, err := peerTemplates.ReadFile(pe.tmpl)
	if err != nil {
		panic("BUG: embedded peer template missing: " + pe.tmpl)
	}
	t, err := template.New(pe.Name).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("bench: %s template: %w", pe.Name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("bench: %s template: %w", pe.Name, err)
	}
	return buf.Bytes(), nil
}

// WriteConfig renders the config into p.Dir and creates the directories the
// peer needs there; it returns the config's path.
func (pe Peer) WriteConfig(p PeerParams) (string, error) {
	conf, err := pe.Render(p)
	if err != nil {
		return "", err
	}
	for _, d := range pe.dirs {
		if err := os.MkdirAll(filepath.Join(p.Dir, d), 0o755); err != nil {
			return "", err
		}
	}
	path := filepath.Join(p.Dir, pe.ConfigName)
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// Check validates the written config with the peer's own checker
// (nginx -t, haproxy -c, caddy validate).
func (pe Peer) Check(bin, conf string, p PeerParams) error {
	args := pe.checkArgs(bin, conf, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), pe.procEnv(p)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: %s rejects its generated config: %v: %s", pe.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (pe Peer) procEnv(p PeerParams) []string {
	env := append([]string(nil), pe.env...)
	if pe.Name == "caddy" {
		home := filepath.Join(p.Dir, "caddy-home")
		env = append(env, "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
	}
	return env
}

// readyHeaders are what a request needs to pass the peer's key check.
func (p PeerParams) readyHeaders() []Header {
	if p.APIKey == "" {
		return nil
	}
	return []Header{{Name: p.KeyHeader, Value: p.APIKey}}
}

// Spec returns the ProcSpec that runs the peer on the written config. The
// peer is ready once a request through it reaches the origin.
func (pe Peer) Spec(bin, conf string, p PeerParams) ProcSpec {
	return ProcSpec{
		Name:  pe.Name,
		Argv:  pe.runArgs(bin, conf, p),
		Env:   pe.procEnv(p),
		Dir:   p.Dir,
		Ready: HTTPReady(p.Listen, p.Prefix+"/ready?size=2", p.readyHeaders()...),
	}
}
