package policy

import (
	"github.com/cespare/xxhash/v2"
	"github.com/sluicegw/sluice/policy/cors"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/sluicegw/sluice/policy/jwtauth"
	"github.com/sluicegw/sluice/policy/params"
	"github.com/sluicegw/sluice/store/certs"
	"github.com/sluicegw/sluice/store/nonce"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/policy/radix"
	"github.com/sluicegw/sluice/policy/units"
)

// Options are the data plane's hooks into compilation.
type Options struct {
	// Bind attaches the data plane's upstream handle to a compiled backend.
	// Nil leaves Upstream nil (check, routes and tests of the control plane).
	Bind func(b *Backend) (Upstream, error)
	// Nonces is the HMAC replay store, which outlives snapshots. Nil uses a
	// small private store (check and routes never verify anything).
	Nonces nonce.Store
	// JWT is the registry of fetched key sets, which outlives snapshots.
	// Nil uses jwtauth.DefaultRegistry.
	JWT *jwtauth.Registry
	// Certs keeps certificates and ticket keys across snapshots (store/certs).
	// Nil loads them into a private store (check).
	Certs *certs.Store
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// methodRE is an HTTP token in upper case, the form methods are matched in.
var methodRE = regexp.MustCompile(`^[A-Z][A-Z0-9_-]{0,31}$`)

// headerNameRE is an HTTP field name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")

// Compile validates everything and builds an immutable Snapshot. Every error
// found is returned at once (as Errors), each naming its key and position;
// nothing is built from a file with any error.
func Compile(p *Parsed, opt Options) (*Snapshot, error) {
	if opt.Nonces == nil {
		opt.Nonces = nonce.NewLocal(nonce.Config{MaxEntries: 1024})
	}
	c := &compiler{p: p, opt: opt, snap: &Snapshot{
		File: p.File, Hash: p.Hash, Config: p.Config, LoadedAt: time.Now(),
		hosts: map[string]*Group{}, wildcards: map[string]*Group{},
	}}
	c.errs = append(c.errs, p.unknown...)
	c.server()
	c.cacheStore()
	c.state()
	c.consumers()
	backends := c.backends()
	c.groups(backends)
	c.tls()
	if len(c.errs) > 0 {
		sortErrors(c.errs)
		c.snap.Close()
		return nil, c.errs
	}
	if opt.Bind != nil {
		for i, b := range c.snap.Backends {
			if b.IsComposite() {
				continue // its calls go through the chains of the backends they name
			}
			up, err := opt.Bind(b) // mocks too: a mock is a terminal like the pool
			if err != nil {
				c.add("backends["+strconv.Itoa(i)+"]", err.Error())
				continue
			}
			b.Upstream = up
		}
		if len(c.errs) > 0 {
			c.snap.Close()
			return nil, c.errs
		}
	}
	return c.snap, nil
}

type compiler struct {
	p      *Parsed
	opt    Options
	snap   *Snapshot
	errs   Errors
	once   map[string]bool
	shared map[string]any
}

func (c *compiler) add(key, msg string) {
	if c.p.reported(key) {
		return
	}
	c.errs = append(c.errs, c.p.errAt(key, msg))
}

// addOnce reports a per-stage error only for the first stage that hits it:
// the same mistake compiled three times is one mistake.
func (c *compiler) addOnce(key, msg string) {
	if c.once == nil {
		c.once = map[string]bool{}
	}
	if c.once[key] {
		return
	}
	c.once[key] = true
	c.add(key, msg)
}

func (c *compiler) server() {
	s := &c.p.Config.Server
	out := &c.snap.Server
	for i, addr := range s.Listen {
		if msg := listenAddrError(addr); msg != "" {
			c.add("server.listen["+strconv.Itoa(i)+"]", msg)
		}
	}
	if msg := listenAddrError(s.AdminListen); msg != "" {
		c.add("server.admin_listen", msg)
	}
	// Minimums catch a value written in the wrong unit ("100ns") and
	// limits no client could meet (issue 10, defect 5).
	c.durationIn("server.read_timeout", s.ReadTimeout, MinServerTimeout, 0)
	c.durationIn("server.write_timeout", s.WriteTimeout, MinServerTimeout, 0)
	c.durationIn("server.idle_timeout", s.IdleTimeout, MinServerTimeout, 0)
	c.durationIn("server.shutdown_timeout", s.ShutdownTimeout, MinServerTimeout, 0)
	if s.AdminToken != "" {
		tok, err := ResolveSecret(s.AdminToken)
		if err != nil {
			c.add("server.admin_token", err.Error())
		}
		out.AdminToken = tok
	} else if validHostPort(s.AdminListen) && !isLoopbackAddr(s.AdminListen) {
		c.add("server.admin_listen", "a non-loopback admin address requires server.admin_token")
	}
	if s.MaxHeaderSize < 1<<10 || s.MaxHeaderSize > 1<<20 {
		c.add("server.max_header_size", "must be between 1KiB and 1MiB")
	}
	if s.StreamThreshold < 4<<10 || s.StreamThreshold > 1<<30 {
		c.add("server.stream_threshold", "must be between 4KiB and 1GiB")
	}
	if s.MaxConcurrentRequests < 0 {
		c.add("server.max_concurrent_requests", "must not be negative (0 means no limit)")
	}
	if s.MaxTunnels < 0 {
		c.add("server.max_tunnels", "must not be negative")
	}
	if s.MaxStreamingUploads < 0 {
		c.add("server.max_streaming_uploads", "must not be negative (0 means the default, 64)")
	}
	for i, cidr := range s.TrustedProxies {
		pfx, err := parsePrefix(cidr)
		if err != nil {
			c.add("server.trusted_proxies["+strconv.Itoa(i)+"]", err.Error())
			continue
		}
		c.snap.TrustedProxies = append(c.snap.TrustedProxies, pfx)
	}
	if al := c.p.Config.AccessLog; al != nil {
		if err := al.Validate(); err != nil {
			c.add("access_log", err.Error())
		}
	}
	if d := c.p.Config.DemoOrigin.Listen; d != "" && (listenAddrError(d) != "" || !isLoopbackAddr(d)) {
		c.add("demo_origin.listen", "must be a loopback host:port, e.g. \"127.0.0.1:8081\"")
	}
	out.Listen = s.Listen
	out.AdminListen = s.AdminListen
	out.ReadTimeout = s.ReadTimeout.D()
	out.WriteTimeout = s.WriteTimeout.D()
	out.IdleTimeout = s.IdleTimeout.D()
	out.MaxHeaderSize = int(s.MaxHeaderSize)
	out.MaxBodySize = int64(s.MaxBodySize)
	out.StreamThreshold = int(s.StreamThreshold)
	out.MaxConcurrentRequests = int64(s.MaxConcurrentRequests)
	out.MaxTunnels = int64(s.MaxTunnels)
	out.MaxStreamingUploads = s.MaxStreamingUploads
	out.ShutdownTimeout = s.ShutdownTimeout.D()
	out.WatchConfig = *s.WatchConfig
	out.DemoOrigin = c.p.Config.DemoOrigin.Listen
}

func validHostPort(a string) bool { return listenAddrError(a) == "" }

// listenAddrError checks an address to listen on: an IP literal (or
// "localhost", or nothing for every interface) and a port 1..65535.
// A name that only looks like an IP ("256.0.0.1") is not one (defect 12).
func listenAddrError(a string) string {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "invalid address " + quote(a) + ": want IP:port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\""
	}
	if h != "" && h != "localhost" {
		if _, err := netip.ParseAddr(h); err != nil {
			return "invalid address " + quote(a) + ": " + quote(h) + " is not an IP address (want IP:port, e.g. \"0.0.0.0:8080\")"
		}
	}
	if !validPort(p) {
		return "invalid address " + quote(a) + ": port must be 1..65535"
	}
	return ""
}

// validPort is a decimal port 1..65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && p[0] != '+' && p[0] != '-'
}

// durationIn reports d outside lo..hi; hi 0 means no maximum.
func (c *compiler) durationIn(key string, d Duration, lo, hi time.Duration) {
	switch {
	case d.D() < lo:
		c.add(key, d.D().String()+" is below the minimum "+lo.String())
	case hi > 0 && d.D() > hi:
		c.add(key, d.D().String()+" is over the maximum "+hi.String())
	}
}

// quote quotes a value for an error, cut short when it is long (defect 13).
func quote(s string) string { return units.Quote(s) }

func isLoopbackAddr(a string) bool {
	h, _, _ := net.SplitHostPort(a)
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, errInvalid("CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errInvalid("IP or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

type simpleErr string

func (e simpleErr) Error() string { return string(e) }

func errInvalid(what, v string) error { return simpleErr("invalid " + what + " " + quote(v)) }

func (c *compiler) backends() map[string]*Backend {
	byName := map[string]*Backend{}
	defer c.resolveCompose(byName)
	cfgByName := map[string]*BackendConfig{}
	for i := range c.p.Config.Backends {
		cfgByName[c.p.Config.Backends[i].Name] = &c.p.Config.Backends[i]
	}
	for i := range c.p.Config.Backends {
		b := &c.p.Config.Backends[i]
		key := "backends[" + strconv.Itoa(i) + "]"
		if !nameRE.MatchString(b.Name) {
			c.add(key+".name", "name "+quote(b.Name)+" must be 1-64 characters of letters, digits, '.', '_' or '-'")
			continue
		}
		if _, dup := byName[b.Name]; dup {
			c.add(key+".name", "duplicate backend name "+quote(b.Name))
			continue
		}
		cb := &Backend{Name: b.Name, PoolSize: b.PoolSize, IdleTimeout: b.IdleTimeout.D(),
			ConnectTimeout: b.ConnectTimeout.D()}
		cb.Resilience = c.backendResilience(key, b)
		switch b.HostHeader {
		case "target":
		case "client":
			cb.ClientHost = true
		default:
			c.add(key+".host_header", "must be \"target\" or \"client\", not "+quote(b.HostHeader))
		}
		c.durationIn(key+".idle_timeout", b.IdleTimeout, MinServerTimeout, 0)
		c.durationIn(key+".connect_timeout", b.ConnectTimeout, MinAPITimeout, MaxConnectTimeout)
		if b.PoolSize < 1 || b.PoolSize > 1<<20 {
			c.add(key+".pool_size", "must be between 1 and 1048576")
		}
		switch {
		case len(b.Compose) > 0 && (b.Mock != nil || len(b.Targets) > 0):
			c.add(key+".compose", "a backend has either targets, a mock or a compose list, not two of them")
		case len(b.Compose) > 0:
			c.checkCompose(key, b, cfgByName)
			cb.compose = &composeSpec{key: key, calls: b.Compose, parallel: b.ComposeParallel}
		case b.Mock != nil && len(b.Targets) > 0:
			c.add(key+".mock", "a backend has either targets or a mock, not both")
		case b.Mock == nil && len(b.Targets) == 0:
			c.add(key, "backend "+quote(b.Name)+" needs targets or a mock (or a compose list)")
		case b.Mock != nil:
			cb.Mock = c.mock(key+".mock", b.Mock)
		}
		for ti, t := range b.Targets {
			tk := key + ".targets[" + strconv.Itoa(ti) + "]"
			spec, msg := parseTarget(t.URL)
			if msg != "" {
				c.add(tk+".url", msg)
				continue
			}
			if t.Weight < 1 || t.Weight > MaxTargetWeight {
				c.add(tk+".weight", "must be between 1 and "+strconv.Itoa(MaxTargetWeight))
				continue
			}
			spec.Weight = t.Weight
			c.upstreamTLS(tk, b, &b.Targets[ti], &spec)
			cb.Targets = append(cb.Targets, spec)
		}
		byName[b.Name] = cb
		c.snap.Backends = append(c.snap.Backends, cb)
	}
	return byName
}

func parseTarget(raw string) (TargetSpec, string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return TargetSpec{}, "invalid target URL " + quote(raw) + ": want http://host:port"
	}
	if u.Scheme == "https" {
		return parseHTTPSTarget(u, raw)
	}
	if u.Scheme != "http" {
		return TargetSpec{}, "target URL " + quote(raw) + " must start with http://"
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return TargetSpec{}, "target URL " + quote(raw) + " must be only scheme, host and port (put paths in backend_path)"
	}
	if port := u.Port(); port != "" && !validPort(port) || strings.HasSuffix(u.Host, ":") {
		return TargetSpec{}, "target URL " + quote(raw) + ": port must be 1..65535"
	}
	if h := u.Hostname(); looksNumeric(h) {
		if _, err := netip.ParseAddr(h); err != nil {
			return TargetSpec{}, "target URL " + quote(raw) + ": " + quote(h) + " is not an IP address"
		}
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return TargetSpec{URL: raw, Addr: addr, Host: u.Host}, ""
}

// looksNumeric reports a host of only digits and dots: meant as an IPv4
// address, never a resolvable name.
func looksNumeric(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if (h[i] < '0' || h[i] > '9') && h[i] != '.' {
			return false
		}
	}
	return true
}

func (c *compiler) mock(key string, m *MockConfig) *MockAnswer {
	if m.Status < 100 || m.Status > 599 {
		c.add(key+".status", "must be an HTTP status between 100 and 599")
	}
	a := &MockAnswer{Status: m.Status, Body: []byte(m.Body)}
	hasCT := false
	for k, v := range m.Headers {
		if !methodRE.MatchString(strings.ToUpper(k)) || strings.ContainsAny(v, "\r\n") {
			c.add(key+".headers."+k, "invalid header name or value")
			continue
		}
		if strings.EqualFold(k, "Content-Type") {
			hasCT = true
		}
		a.Headers = append(a.Headers, [2][]byte{[]byte(k), []byte(v)})
	}
	if !hasCT {
		a.Headers = append(a.Headers, [2][]byte{[]byte("Content-Type"), []byte("application/json")})
	}
	return a
}

func (c *compiler) groups(backends map[string]*Backend) {
	seen := map[string]bool{}
	for gi := range c.p.Config.Groups {
		g := &c.p.Config.Groups[gi]
		key := "groups[" + strconv.Itoa(gi) + "]"
		if !nameRE.MatchString(g.Name) {
			c.add(key+".name", "name "+quote(g.Name)+" must be 1-64 characters of letters, digits, '.', '_' or '-'")
		} else if seen[g.Name] {
			c.add(key+".name", "duplicate group name "+quote(g.Name))
		}
		seen[g.Name] = true
		cg := &Group{Name: g.Name, Hosts: g.Hosts}
		for s := range cg.routers {
			cg.routers[s] = radix.New[*API]()
		}
		c.hosts(key, g, cg)
		stageVars := [numStages]map[string]string{}
		for name, st := range g.Stages {
			id, ok := ParseStage([]byte(name))
			if !ok || name == "" {
				c.add(key+".stages."+name, "unknown stage "+quote(name)+": want RELEASE, PRE or TEST")
				continue
			}
			stageVars[id] = st.Variables
		}
		c.apis(key, g, cg, stageVars, backends)
		for _, r := range cg.routers {
			r.Freeze()
		}
		c.snap.Groups = append(c.snap.Groups, cg)
	}
}

func (c *compiler) hosts(key string, g *GroupConfig, cg *Group) {
	if len(g.Hosts) == 0 {
		if c.snap.defaultGroup != nil {
			c.add(key+".hosts", "group "+quote(g.Name)+" has no hosts, but group "+
				quote(c.snap.defaultGroup.Name)+" is already the default group")
			return
		}
		c.snap.defaultGroup = cg
		return
	}
	for hi, h := range g.Hosts {
		hk := key + ".hosts[" + strconv.Itoa(hi) + "]"
		lh := strings.ToLower(h)
		table, name := c.snap.hosts, lh
		if strings.HasPrefix(lh, "*.") {
			table, name = c.snap.wildcards, lh[1:]
		}
		if !validHostName(strings.TrimPrefix(lh, "*.")) {
			c.add(hk, "invalid host "+quote(h)+": want a name like api.example.com or *.example.com")
			continue
		}
		if other, dup := table[name]; dup {
			c.add(hk, "host "+quote(h)+" already belongs to group "+quote(other.Name))
			continue
		}
		table[name] = cg
	}
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, ch := range label {
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}

func (c *compiler) apis(gkey string, g *GroupConfig, cg *Group, stageVars [numStages]map[string]string, backends map[string]*Backend) {
	names := map[string]bool{}
	for ai := range g.APIs {
		a := &g.APIs[ai]
		key := gkey + ".apis[" + strconv.Itoa(ai) + "]"
		nerr := len(c.errs)
		if !nameRE.MatchString(a.Name) {
			c.add(key+".name", "name "+quote(a.Name)+" must be 1-64 characters of letters, digits, '.', '_' or '-'")
		} else if names[a.Name] {
			c.add(key+".name", "duplicate API name "+quote(a.Name)+" in group "+quote(g.Name))
		}
		names[a.Name] = true
		if !strings.HasPrefix(a.Path, "/") {
			c.add(key+".path", "path "+quote(a.Path)+" must start with '/'")
		}
		params, catchAll, err := templateParams(a.Path)
		if err != nil {
			c.add(key+".path", err.Error())
		}
		for mi, m := range a.Methods {
			if m != "*" && !methodRE.MatchString(m) {
				c.add(key+".methods["+strconv.Itoa(mi)+"]", "invalid method "+quote(m)+": want an upper-case token like GET, or \"*\"")
			}
		}
		if a.Backend == "" {
			c.add(key+".backend", "backend is required")
		}
		var stages []StageID
		for si, s := range a.Stages {
			id, ok := ParseStage([]byte(s))
			if !ok || s == "" {
				c.add(key+".stages["+strconv.Itoa(si)+"]", "unknown stage "+quote(s)+": want RELEASE, PRE or TEST")
				continue
			}
			stages = append(stages, id)
		}
		pol := c.apiPolicies(gkey, key, g, a, params)
		blocked := len(c.errs) > nerr
		// The timeout does not stop the backend checks below: one run of
		// check should name every mistake it can.
		if a.Timeout.D() > MaxAPITimeout {
			c.add(key+".timeout", "timeout "+a.Timeout.D().String()+" is over the 30s maximum")
		}
		c.durationIn(key+".timeout", a.Timeout, MinAPITimeout, 0)
		if blocked {
			continue
		}
		for _, st := range stages {
			c.api(key, a, cg, st, stageVars[st], params, catchAll, backends, pol)
		}
	}
}

func (c *compiler) api(key string, a *APIConfig, cg *Group, st StageID, vars map[string]string,
	params []string, catchAll []bool, backends map[string]*Backend, pol apiPolicies) {
	bname, missing := substituteVars(a.Backend, vars)
	if len(missing) > 0 {
		c.addOnce(key+".backend", "stage variable "+quoteList(missing)+" is not defined in stage "+st.String()+
			" (add it under [groups.stages."+st.String()+".variables])")
		return
	}
	b, ok := backends[bname]
	if !ok {
		c.addOnce(key+".backend", "unknown backend "+quote(bname))
		return
	}
	if a.Split != nil {
		if b = c.split(key, a.Split, bname, vars, backends); b == nil {
			return
		}
	}
	api := &API{Group: cg, Name: a.Name, Stage: st, Path: a.Path, Methods: a.Methods, Backend: b, Timeout: a.Timeout.D(),
		ID: xxhash.Sum64String(cg.Name + "/" + a.Name), ACLs: pol.acls, CORS: pol.cors, Auth: pol.auth,
		Throttle: pol.throttle, Params: pol.params, Retry: c.retryPolicy(key+".retry", a.Retry),
		ReadsBody: pol.auth != nil && pol.auth.HMAC != nil || a.Params != nil && paramsReadBody(a.Params) ||
			a.Transform != nil && a.Transform.RequestBody != nil}
	api.LimitID = api.ID
	if pol.throttle != nil && !pol.throttle.ShareStages {
		api.LimitID = xxhash.Sum64String(cg.Name + "/" + a.Name + "/" + st.String())
	}
	api.Transform = c.transform(key+".transform", a.Transform, &templateEnv{params: params, vars: vars, auth: pol.auth})
	if b.IsComposite() {
		if a.WebSocket != nil {
			c.addOnce(key+".websocket", "a composite backend cannot tunnel WebSocket upgrades")
			return
		}
		if a.BackendPath != "" {
			c.addOnce(key+".backend_path", "backend_path does not apply to a composite backend: each call has its own path")
			return
		}
		api.Composite = c.composite(b, &templateEnv{params: params, vars: vars, auth: pol.auth})
	}
	if a.BackendPath != "" {
		bp, missing := substituteVars(a.BackendPath, vars)
		if len(missing) > 0 {
			c.addOnce(key+".backend_path", "stage variable "+quoteList(missing)+" is not defined in stage "+st.String())
			return
		}
		tpl, err := compileBackendPath(bp, params, catchAll)
		if err != nil {
			c.addOnce(key+".backend_path", "backend_path "+quote(a.BackendPath)+": "+err.Error())
			return
		}
		api.BackendPath = tpl
	}
	for _, m := range a.Methods {
		if err := cg.routers[st].Add(m, a.Path, api); err != nil {
			c.addOnce(key+".path", err.Error())
			return
		}
	}
	api.Stats = newAPIStats(cg.Name, a.Name, st)
	api.WebSocket = c.webSocket(key+".websocket", a.WebSocket, cg.Name, a.Name, st)
	api.Cache, api.Compression = pol.cache, pol.compression
	c.snap.APIs = append(c.snap.APIs, api)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// apiPolicies are an API's compiled checks, shared by its stages.
type apiPolicies struct {
	acls     []*ipacl.ACL
	cors     *cors.Policy
	auth     *Auth
	throttle *Throttle
	params   *params.Validator
	// cache and compression (cache.go)
	cache       *Cache
	compression *Compression
}

// apiPolicies compiles the checks of one API: the group's tables unless the
// API sets its own; for ip_access, both apply.
func (c *compiler) apiPolicies(gkey, key string, g *GroupConfig, a *APIConfig, pathParams []string) apiPolicies {
	var p apiPolicies
	if acl := c.ipAccessOnce(gkey+".ip_access", g.IPAccess); acl != nil {
		p.acls = append(p.acls, acl)
	}
	if acl := c.ipAccess(key+".ip_access", a.IPAccess); acl != nil {
		p.acls = append(p.acls, acl)
	}
	if a.CORS != nil {
		p.cors = c.cors(key+".cors", a.CORS)
	} else if g.CORS != nil {
		p.cors = c.corsOnce(gkey+".cors", g.CORS)
	}
	authCfg, authKey := a.Auth, key+".auth"
	if authCfg == nil {
		authCfg, authKey = g.Auth, gkey+".auth"
	}
	p.auth = c.auth(authKey, authCfg, claimsIn(a.Transform))
	if a.RateLimit != nil {
		p.throttle = c.throttle(key+".rate_limit", a.RateLimit)
	} else if g.RateLimit != nil {
		p.throttle = c.throttle(gkey+".rate_limit", g.RateLimit)
	}
	if p.throttle != nil {
		for i, o := range p.throttle.Overrides {
			if _, ok := c.snap.consumers[o.Consumer]; !ok {
				c.addOnce(key+".rate_limit.overrides["+strconv.Itoa(i)+"].consumer", "unknown consumer "+quote(o.Consumer))
			}
		}
	}
	p.cache = c.cache(key+".cache", a.Cache)
	if a.Compression != nil {
		p.compression = c.compression(key+".compression", a.Compression)
	} else if g.Compression != nil {
		p.compression = c.compression(gkey+".compression", g.Compression)
	}
	if a.Params != nil {
		v, err := params.Compile(*a.Params, func(name string) (int, bool) {
			for i, n := range pathParams {
				if n == name {
					return i, true
				}
			}
			return 0, false
		})
		if err != nil {
			c.add(key+".params", err.Error())
		}
		p.params = v
	}
	return p
}

// Group tables are compiled once per group, however many APIs share them.
func (c *compiler) ipAccessOnce(key string, cfg *ipacl.Config) *ipacl.ACL {
	if cfg == nil {
		return nil
	}
	if v, ok := c.shared[key]; ok {
		acl, _ := v.(*ipacl.ACL)
		return acl
	}
	acl := c.ipAccess(key, cfg)
	c.share(key, acl)
	return acl
}

func (c *compiler) corsOnce(key string, cfg *cors.Config) *cors.Policy {
	if v, ok := c.shared[key]; ok {
		p, _ := v.(*cors.Policy)
		return p
	}
	p := c.cors(key, cfg)
	c.share(key, p)
	return p
}

func (c *compiler) share(key string, v any) {
	if c.shared == nil {
		c.shared = map[string]any{}
	}
	c.shared[key] = v
}

// paramsReadBody reports whether a parameter is read from the body.
func paramsReadBody(p *params.Config) bool {
	for _, x := range p.Params {
		if x.In == "form" || x.In == "json" || x.In == "body" {
			return true
		}
	}
	return p.MaxBodySize > 0
}
