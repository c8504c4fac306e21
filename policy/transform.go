package policy

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// SourceKind says where a template part's value comes from.
type SourceKind uint8

// Template sources.
const (
	SrcLiteral SourceKind = iota
	SrcPath
	SrcQuery
	SrcHeader
	SrcConsumer
	SrcClaim
	SrcClientIP
	SrcRequestID
)

// TemplatePart is literal text or one source. Resolved at compile time: a
// path parameter by index, a claim by index, names as bytes.
type TemplatePart struct {
	Kind  SourceKind
	Lit   []byte
	Name  []byte // query or header name
	Index int    // path parameter or claim index
}

// Template is a compiled value template.
type Template []TemplatePart

// HeaderOp is one compiled header or query edit.
type HeaderOp struct {
	Name  []byte
	To    []byte   // rename target
	Value Template // set and add
}

// Ops are compiled edits, applied remove, rename, set, add.
type Ops struct {
	Remove [][]byte
	Rename []HeaderOp
	Set    []HeaderOp
	Add    []HeaderOp
}

// Empty reports whether there is nothing to do.
func (o *Ops) Empty() bool {
	return len(o.Remove) == 0 && len(o.Rename) == 0 && len(o.Set) == 0 && len(o.Add) == 0
}

// Transform is an API's compiled request and response edits.
type Transform struct {
	RequestHeaders  Ops
	Query           Ops
	ResponseHeaders Ops
	RequestBody     *BodyTransform // nil: the body passes as it is
	ResponseBody    *BodyTransform
}

// templateEnv is what a template may refer to when compiled.
type templateEnv struct {
	params   []string
	vars     map[string]string
	auth     *Auth
	response bool
}

func compileTemplate(s string, env *templateEnv) (Template, error) {
	var t Template
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t = append(t, TemplatePart{Kind: SrcLiteral, Lit: []byte(s)})
			break
		}
		if i > 0 {
			t = append(t, TemplatePart{Kind: SrcLiteral, Lit: []byte(s[:i])})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, errors.New("unbalanced '{' in " + quote(s))
		}
		src := s[i+1 : i+j]
		s = s[i+j+1:]
		kind, name, _ := strings.Cut(src, ".")
		part := TemplatePart{}
		switch kind {
		case "path":
			part.Kind, part.Index = SrcPath, -1
			for k, p := range env.params {
				if p == name {
					part.Index = k
				}
			}
			if part.Index < 0 {
				return nil, errors.New("{path." + name + "}: the API's path captures no such parameter")
			}
		case "query":
			part.Kind, part.Name = SrcQuery, []byte(name)
		case "header":
			part.Kind, part.Name = SrcHeader, []byte(name)
		case "var":
			v, ok := env.vars[name]
			if !ok {
				return nil, errors.New("{var." + name + "}: stage variable not defined")
			}
			part.Kind, part.Lit = SrcLiteral, []byte(v)
		case "consumer":
			part.Kind = SrcConsumer
		case "claim":
			if env.auth == nil || env.auth.JWT == nil {
				return nil, errors.New("{claim." + name + "}: the API has no jwt auth")
			}
			part.Kind, part.Index = SrcClaim, env.auth.JWT.ClaimIndex(name)
			if part.Index < 0 {
				return nil, errors.New("BUG: claim " + name + " not exposed")
			}
		case "client_ip":
			part.Kind = SrcClientIP
		case "request_id":
			part.Kind = SrcRequestID
		default:
			return nil, errors.New("unknown source {" + src + "}: want path., query., header., var., claim., consumer, client_ip or request_id")
		}
		if (kind == "path" || kind == "query" || kind == "header" || kind == "var" || kind == "claim") && name == "" {
			return nil, errors.New("{" + kind + ".NAME} needs a name")
		}
		t = append(t, part)
	}
	return t, nil
}

// claimsIn lists the {claim.NAME} names a transform uses, so the JWT
// verifier can expose them.
func claimsIn(cfg *TransformConfig) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for _, ops := range []HeaderOps{cfg.RequestHeaders, cfg.Query, cfg.ResponseHeaders} {
		for _, m := range []map[string]string{ops.Set, ops.Add} {
			for _, v := range m {
				for _, part := range strings.Split(v, "{claim.")[1:] {
					if n, _, ok := strings.Cut(part, "}"); ok {
						out = append(out, n)
					}
				}
			}
		}
	}
	return out
}

func (c *compiler) ops(key string, h HeaderOps, env *templateEnv, isHeader bool) Ops {
	var o Ops
	valid := func(k, n string) bool {
		if isHeader && !headerNameRE.MatchString(n) || !isHeader && (n == "" || strings.ContainsAny(n, "&=#? ")) {
			c.addOnce(k, "invalid name "+quote(n))
			return false
		}
		return true
	}
	for i, n := range h.Remove {
		if valid(key+".remove["+strconv.Itoa(i)+"]", n) {
			o.Remove = append(o.Remove, []byte(n))
		}
	}
	for _, from := range sortedKeys(h.Rename) {
		to := h.Rename[from]
		if env.response {
			c.addOnce(key+".rename", "response headers support set, add and remove only")
			break
		}
		if valid(key+".rename."+from, from) && valid(key+".rename."+from, to) {
			o.Rename = append(o.Rename, HeaderOp{Name: []byte(from), To: []byte(to)})
		}
	}
	for _, pair := range []struct {
		m   map[string]string
		dst *[]HeaderOp
		op  string
	}{{h.Set, &o.Set, "set"}, {h.Add, &o.Add, "add"}} {
		for _, n := range sortedKeys(pair.m) {
			k := key + "." + pair.op + "." + n
			if !valid(k, n) {
				continue
			}
			tpl, err := compileTemplate(pair.m[n], env)
			if err != nil {
				c.addOnce(k, err.Error())
				continue
			}
			if env.response {
				for _, p := range tpl {
					if p.Kind == SrcPath || p.Kind == SrcQuery || p.Kind == SrcHeader {
						c.addOnce(k, "response headers take literals, {consumer}, {claim.*}, {client_ip} and {request_id}")
					}
				}
			}
			*pair.dst = append(*pair.dst, HeaderOp{Name: []byte(n), Value: tpl})
		}
	}
	return o
}

func (c *compiler) transform(key string, cfg *TransformConfig, env *templateEnv) *Transform {
	if cfg == nil {
		return nil
	}
	t := &Transform{}
	t.RequestHeaders = c.ops(key+".request_headers", cfg.RequestHeaders, env, true)
	t.Query = c.ops(key+".query", cfg.Query, env, false)
	renv := *env
	renv.response = true
	t.ResponseHeaders = c.ops(key+".response_headers", cfg.ResponseHeaders, &renv, true)
	t.RequestBody = c.bodyOps(key+".request_body", cfg.RequestBody)
	t.ResponseBody = c.bodyOps(key+".response_body", cfg.ResponseBody)
	return t
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
