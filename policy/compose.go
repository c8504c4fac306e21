package policy

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ComposeCallConfig is one call of a composite backend: a [[backends]] entry
// with a compose list instead of targets. An API that names such a backend
// answers with one JSON object merged from the calls' JSON answers, the calls
// made in parallel, each through its own backend's chain (retry, balancer,
// pool or mock).
type ComposeCallConfig struct {
	// Name labels the call in errors and in X-Sluice-Partial-Failures
	// (default: Key, or the backend's name when Key is empty; must be unique
	// within the compose list).
	Name string `toml:"name"`
	// Backend names the backend the call goes to: one with targets or a mock,
	// never another composite backend (required).
	Backend string `toml:"backend"`
	// Method is the call's HTTP method (default "GET"). Calls carry no body.
	Method string `toml:"method"`
	// Path is the call's request URI template, starting with '/': "{id}" or
	// "{path.id}" inserts a path parameter of the API, "{query.NAME}" a query
	// value of the client's request, "{var.NAME}" a stage variable,
	// "{consumer}" the authenticated consumer's name, "{call.NAME.FIELD}" a
	// field (dotted path) of an earlier call's JSON answer: the call then
	// waits for that one and fails when it failed or lacks the field.
	// Values are escaped for where they stand (path or query) (required).
	Path string `toml:"path"`
	// Key is where the call's JSON answer goes in the merged object; empty
	// merges the answer's fields (it must then be a JSON object) into the
	// top level, later calls winning on equal names (default "").
	Key string `toml:"key"`
	// Timeout bounds the call, inside the API's timeout (default: the API's
	// timeout; at least 10ms).
	Timeout Duration `toml:"timeout"`
	// Required makes any failure of the call (transport error, timeout,
	// status outside 2xx, an answer that is not JSON or is over max_size)
	// fail the whole request with 502 naming the call. An optional call that
	// fails leaves its key null (nothing at the top level when Key is empty)
	// and is listed in X-Sluice-Partial-Failures (default true).
	Required *bool `toml:"required"`
	// MaxSize bounds the call's answer body; a larger answer is a failure of
	// the call (default "1MiB", at most "64MiB").
	MaxSize Size `toml:"max_size"`
}

// Composite limits and defaults.
const (
	DefaultComposeMaxSize  = 1 << 20
	MaxComposeMaxSize      = 64 << 20
	DefaultComposeParallel = 8
	MaxComposeCalls        = 32
)

// Composite is a composite backend's compiled calls for one API and stage:
// the templates are resolved against the API's path parameters and the
// stage's variables. Immutable; safe for concurrent use.
type Composite struct {
	Calls []ComposeCall
	// Parallel bounds how many of one request's calls are in flight at once.
	Parallel int
}

// ComposeCall is one compiled call.
type ComposeCall struct {
	Name     string
	Backend  *Backend // its Upstream is the call's chain
	Method   []byte
	Path     Template
	InQuery  []bool       // per Path part: it stands in the query string
	Deps     []ComposeDep // parts taken from earlier calls' answers
	Key      string       // "" merges into the top level
	Timeout  time.Duration
	Required bool
	MaxSize  int
}

func applyComposeDefaults(c *Config) {
	for bi := range c.Backends {
		b := &c.Backends[bi]
		if len(b.Compose) > 0 && b.ComposeParallel == 0 {
			b.ComposeParallel = DefaultComposeParallel
		}
		for i := range b.Compose {
			k := &b.Compose[i]
			if k.Method == "" {
				k.Method = "GET"
			}
			if k.Required == nil {
				on := true
				k.Required = &on
			}
			setSize(&k.MaxSize, DefaultComposeMaxSize)
			if k.Name == "" {
				k.Name = k.Key
				if k.Name == "" {
					k.Name = k.Backend
				}
			}
		}
	}
}

// checkCompose validates a composite backend's own keys (names, methods,
// sizes, call backends); the path templates are compiled per API by
// composite, since they refer to the API's path parameters.
func (c *compiler) checkCompose(key string, b *BackendConfig, byName map[string]*BackendConfig) {
	if len(b.Compose) > MaxComposeCalls {
		c.add(key+".compose", "at most "+strconv.Itoa(MaxComposeCalls)+" calls")
	}
	if b.ComposeParallel < 1 || b.ComposeParallel > MaxComposeCalls {
		c.add(key+".compose_parallel", "must be between 1 and "+strconv.Itoa(MaxComposeCalls))
	}
	names := map[string]bool{}
	keys := map[string]bool{}
	for i := range b.Compose {
		k := &b.Compose[i]
		ck := key + ".compose[" + strconv.Itoa(i) + "]"
		if names[k.Name] {
			c.add(ck+".name", "duplicate call name "+quote(k.Name)+": give each call a unique name")
		}
		names[k.Name] = true
		if k.Key != "" {
			if keys[k.Key] {
				c.add(ck+".key", "duplicate key "+quote(k.Key))
			}
			keys[k.Key] = true
		}
		if !methodRE.MatchString(k.Method) {
			c.add(ck+".method", "invalid method "+quote(k.Method)+": want an upper-case token like GET")
		}
		if !strings.HasPrefix(k.Path, "/") {
			c.add(ck+".path", "path "+quote(k.Path)+" must start with '/'")
		}
		for j := 0; j < len(k.Path); j++ {
			if ch := k.Path[j]; ch <= ' ' || ch == '#' || ch >= 0x7f {
				c.add(ck+".path", "must not contain spaces, '#', control characters or non-ASCII bytes (percent-encode them)")
				break
			}
		}
		if k.Timeout != 0 {
			c.durationIn(ck+".timeout", k.Timeout, MinAPITimeout, MaxAPITimeout)
		}
		if k.MaxSize < 1 || k.MaxSize > MaxComposeMaxSize {
			c.add(ck+".max_size", "must be between 1B and 64MiB")
		}
		switch t, ok := byName[k.Backend]; {
		case k.Backend == "":
			c.add(ck+".backend", "backend is required")
		case !ok:
			c.add(ck+".backend", "unknown backend "+quote(k.Backend))
		case len(t.Compose) > 0:
			c.add(ck+".backend", "backend "+quote(k.Backend)+" is itself composite: a call names a backend with targets or a mock")
		}
	}
}

// composite compiles a composite backend's calls for one API and stage.
func (c *compiler) composite(b *Backend, env *templateEnv) *Composite {
	cfg := b.compose
	key := cfg.key
	out := &Composite{Parallel: cfg.parallel}
	names := map[string]int{}
	for i := range cfg.calls {
		k := &cfg.calls[i]
		ck := key + ".compose[" + strconv.Itoa(i) + "]"
		tpl, deps, err := compileCallPath(shorthandParams(k.Path, env.params), env, names)
		names[k.Name] = i
		if err != nil {
			c.addOnce(ck+".path", "path "+quote(k.Path)+": "+err.Error())
			continue
		}
		call := ComposeCall{Name: k.Name, Backend: cfg.backends[i], Method: []byte(k.Method), Path: tpl,
			Deps: deps, Key: k.Key, Timeout: k.Timeout.D(), Required: *k.Required, MaxSize: int(k.MaxSize)}
		inQuery := false
		for _, p := range tpl {
			call.InQuery = append(call.InQuery, inQuery)
			if p.Kind == SrcLiteral && strings.IndexByte(string(p.Lit), '?') >= 0 {
				inQuery = true
			}
		}
		out.Calls = append(out.Calls, call)
	}
	return out
}

// SrcCall is a part of a composite call's path filled from an earlier
// call's answer (ComposeCall.Deps); it exists only in composite paths.
const SrcCall SourceKind = 255

// ComposeDep is a path part taken from an earlier call's JSON answer: the
// call waits for that call and fails when it failed or lacks the field.
type ComposeDep struct {
	Part  int      // index in ComposeCall.Path of the SrcCall part
	Call  int      // index of the earlier call
	Field []string // dotted path into its answer; the value must be a string, number or boolean
}

// compileCallPath compiles a call's path: the template sources, plus
// "{call.NAME.FIELD}" naming an earlier call (names) and a field of its
// answer.
func compileCallPath(s string, env *templateEnv, names map[string]int) (Template, []ComposeDep, error) {
	var tpl Template
	var deps []ComposeDep
	for {
		i := strings.Index(s, "{call.")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, nil, errors.New("unbalanced '{'")
		}
		if i > 0 {
			t, err := compileTemplate(s[:i], env)
			if err != nil {
				return nil, nil, err
			}
			tpl = append(tpl, t...)
		}
		ref := s[i+len("{call.") : i+j]
		name, field, _ := strings.Cut(ref, ".")
		dep, ok := names[name]
		if !ok {
			return nil, nil, errors.New("{call." + ref + "}: " + quote(name) + " is not the name of an earlier call")
		}
		path := strings.Split(field, ".")
		for _, p := range path {
			if p == "" {
				return nil, nil, errors.New("{call." + ref + "}: want {call.NAME.FIELD}, FIELD a dotted path")
			}
		}
		deps = append(deps, ComposeDep{Part: len(tpl), Call: dep, Field: path})
		tpl = append(tpl, TemplatePart{Kind: SrcCall, Index: dep})
		s = s[i+j+1:]
	}
	if s != "" {
		t, err := compileTemplate(s, env)
		if err != nil {
			return nil, nil, err
		}
		tpl = append(tpl, t...)
	}
	return tpl, deps, nil
}

// shorthandParams turns "{id}" into "{path.id}" for a name the API's path
// captures, so a call path reads like a backend_path.
func shorthandParams(s string, params []string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	for _, p := range params {
		s = strings.ReplaceAll(s, "{"+p+"}", "{path."+p+"}")
	}
	return s
}

// composeSpec is what a composite backend keeps from its config until its
// APIs compile their calls.
type composeSpec struct {
	key      string // "backends[N]", where errors point
	calls    []ComposeCallConfig
	backends []*Backend
	parallel int
}

// IsComposite reports whether the backend answers by composing calls.
func (b *Backend) IsComposite() bool { return b.compose != nil }

// resolveCompose binds each composite backend's calls to the compiled
// backends they name, once every backend is compiled.
func (c *compiler) resolveCompose(byName map[string]*Backend) {
	for i := range c.p.Config.Backends {
		cfg := &c.p.Config.Backends[i]
		b, ok := byName[cfg.Name]
		if !ok || len(cfg.Compose) == 0 || b.compose == nil {
			continue
		}
		for _, k := range cfg.Compose {
			b.compose.backends = append(b.compose.backends, byName[k.Backend])
		}
	}
}

// AppendEscaped appends v escaped for a path segment or, when inQuery, a
// query value: a client's value can never add a segment, a query
// parameter or a fragment to a composite call.
func AppendEscaped(dst, v []byte, inQuery bool) []byte {
	if inQuery {
		return appendQueryEscaped(dst, v)
	}
	return appendPathEscaped(dst, v, false)
}
