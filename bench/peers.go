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
	// AccessLog turns access logging on, to match a gateway scenario that logs.
	AccessLog bool
	// FDLimit is the hard RLIMIT_NOFILE, the descriptor limit HAProxy asks for.
	FDLimit uint64
	// User is nginx's worker user; set to "root" when the harness runs as
	// root, so workers can use the temp dir (empty: directive omitted).
	User string
}

// NewPeerParams fills PeerParams for a peer listening on listen.
func NewPeerParams(listen, origin, dir string, accessLog bool) (PeerParams, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return PeerParams{}, err
	}
	if err := CheckLoopbackAddr(listen); err != nil {
		return PeerParams{}, err
	}
	p := PeerParams{Listen: listen, Host: host, Port: port, Origin: origin, Prefix: "/anon", Dir: dir, AccessLog: accessLog,
		FDLimit: 20000}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Max > 0 && rl.Max < 1<<20 {
		p.FDLimit = rl.Max
	}
	if os.Geteuid() == 0 {
		p.User = "root"
	}
	return p, nil
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
}

// Peers are the peer proxies, in report order.
var Peers = []Peer{
	{
		Name: "nginx", Binary: "nginx", ConfigName: "nginx.conf", tmpl: "peers/nginx.conf.tmpl",
		runArgs: func(bin, conf string, p PeerParams) []string { return []string{bin, "-p", p.Dir, "-c", conf} },
		checkArgs: func(bin, conf string, p PeerParams) []string {
			return []string{bin, "-t", "-q", "-p", p.Dir, "-c", conf}
		},
		dirs: []string{"nginx-client-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi", "logs"},
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

// Spec returns the ProcSpec that runs the peer on the written config. The
// peer is ready once a request through it reaches the origin.
func (pe Peer) Spec(bin, conf string, p PeerParams) ProcSpec {
	return ProcSpec{
		Name:  pe.Name,
		Argv:  pe.runArgs(bin, conf, p),
		Env:   pe.procEnv(p),
		Dir:   p.Dir,
		Ready: HTTPReady(p.Listen, p.Prefix+"/ready?size=2"),
	}
}
