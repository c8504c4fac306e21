package params

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

type location uint8

const (
	locPath location = iota
	locQuery
	locHeader
	locForm
	locJSON
)

var locNames = map[string]location{"path": locPath, "query": locQuery, "header": locHeader, "form": locForm, "json": locJSON}

type ptype uint8

const (
	tString ptype = iota
	tInt
	tNumber
	tBool
	tEnum
)

var typeNames = map[string]ptype{"": tString, "string": tString, "int": tInt, "number": tNumber, "bool": tBool, "enum": tEnum}

// param is a compiled Param; all messages are prebuilt.
type param struct {
	name     string
	nameB    []byte
	in       string
	loc      location
	typ      ptype
	required bool
	def      []byte // nil: no default
	defQuery []byte // "name=value", query-escaped, for query defaults
	pathIdx  int

	hasMin, hasMax bool
	min, max       float64
	imin, imax     int64 // for tInt: the bounds rounded inward

	minLen, maxLen int
	re             *regexp.Regexp
	enum           map[string]struct{}

	errRequired, errType, errMin, errMax, errMinLen, errMaxLen, errRegex, errEnum, errRepeated *Error
}

// Validator is a compiled Config. It is immutable and safe for concurrent
// use.
type Validator struct {
	maxBody                                 int
	errTooLarge, errMalformed, errNotObject *Error
	path, query, header, form, json         []param
	slots                                   int // per-request slots needed
}

// Compile validates cfg and builds its Validator. pathIndex resolves a path
// parameter name to its index in the route template (what PathParams.PathParam
// takes); it may be nil when no parameter is "in = path". Errors name the
// parameter and the offending value.
func Compile(cfg Config, pathIndex func(name string) (int, bool)) (*Validator, error) {
	if cfg.MaxBodySize < 0 {
		return nil, fmt.Errorf("params: max_body_size %d: must not be negative", cfg.MaxBodySize)
	}
	if int64(cfg.MaxBodySize) > math.MaxInt32 {
		return nil, fmt.Errorf("params: max_body_size %d: must be below 2GiB", cfg.MaxBodySize)
	}
	v := &Validator{
		maxBody:      int(cfg.MaxBodySize),
		errMalformed: bodyError("json", "malformed JSON"),
		errNotObject: bodyError("json", "must be a JSON object"),
	}
	v.errTooLarge = &Error{In: "body", Rule: "max_body_size", Code: "PayloadTooLarge", Status: 413,
		msg: "request body: larger than " + strconv.Itoa(v.maxBody) + " bytes"}

	seen := map[string]int{}
	for i, c := range cfg.Params {
		p, err := compileParam(c, pathIndex)
		if err != nil {
			return nil, fmt.Errorf("params: params[%d]: %w", i, err)
		}
		key := p.in + "\x00" + p.name
		if p.loc == locHeader {
			key = strings.ToLower(key)
		}
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("params: params[%d]: parameter %q (%s) is already defined by params[%d]", i, c.Name, c.In, j)
		}
		seen[key] = i
		switch p.loc {
		case locPath:
			v.path = append(v.path, p)
		case locQuery:
			v.query = append(v.query, p)
		case locHeader:
			v.header = append(v.header, p)
		case locForm:
			v.form = append(v.form, p)
		case locJSON:
			v.json = append(v.json, p)
		}
	}
	v.slots = max(len(v.query), len(v.form), len(v.json))
	return v, nil
}

func compileParam(c Param, pathIndex func(string) (int, bool)) (param, error) {
	p := param{name: c.Name, nameB: []byte(c.Name), in: c.In, required: c.Required,
		minLen: c.MinLength, maxLen: c.MaxLength}
	bad := func(format string, a ...any) (param, error) {
		return p, fmt.Errorf("parameter %q (%s): %s", c.Name, c.In, fmt.Sprintf(format, a...))
	}
	if c.Name == "" {
		return bad("name is required")
	}
	var ok bool
	if p.loc, ok = locNames[c.In]; !ok {
		return bad(`in %q: want "path", "query", "header", "form" or "json"`, c.In)
	}
	if p.typ, ok = typeNames[c.Type]; !ok {
		return bad(`type %q: want "string", "int", "number", "bool" or "enum"`, c.Type)
	}
	if p.loc == locHeader && !httpbytes.IsToken(c.Name) {
		return bad("not a valid header name")
	}
	if p.loc == locPath {
		if pathIndex == nil {
			return bad("the API has no path parameters")
		}
		if p.pathIdx, ok = pathIndex(c.Name); !ok {
			return bad("no such parameter in the route's path template")
		}
		if c.Default != "" {
			return bad("a path parameter cannot have a default")
		}
	}
	if c.Default != "" && p.loc != locQuery && p.loc != locHeader {
		return bad(`default is only supported for "query" and "header" parameters (the gateway does not rewrite bodies)`)
	}

	numeric := p.typ == tInt || p.typ == tNumber
	if (c.Min != nil || c.Max != nil) && !numeric {
		return bad(`min/max apply to "int" and "number" only`)
	}
	if c.Min != nil {
		if math.IsNaN(*c.Min) {
			return bad("min is NaN")
		}
		p.hasMin, p.min = true, *c.Min
	}
	if c.Max != nil {
		if math.IsNaN(*c.Max) {
			return bad("max is NaN")
		}
		p.hasMax, p.max = true, *c.Max
	}
	if p.hasMin && p.hasMax && p.min > p.max {
		return bad("min %s is greater than max %s", fmtNum(p.min), fmtNum(p.max))
	}
	if p.typ == tInt {
		p.imin, p.imax = math.MinInt64, math.MaxInt64
		if p.hasMin {
			p.imin = clampInt(math.Ceil(p.min))
		}
		if p.hasMax {
			p.imax = clampInt(math.Floor(p.max))
		}
		if p.imin > p.imax {
			return bad("no integer lies between min %s and max %s", fmtNum(p.min), fmtNum(p.max))
		}
	}
	if (c.MinLength != 0 || c.MaxLength != 0 || c.Regex != "") && p.typ != tString {
		return bad(`min_length, max_length and regex apply to "string" only`)
	}
	if c.MinLength < 0 || c.MaxLength < 0 {
		return bad("min_length and max_length must not be negative")
	}
	if c.MaxLength != 0 && c.MinLength > c.MaxLength {
		return bad("min_length %d is greater than max_length %d", c.MinLength, c.MaxLength)
	}
	if c.Regex != "" {
		re, err := regexp.Compile(`^(?:` + c.Regex + `)$`)
		if err != nil {
			return bad("regex %q: %v", c.Regex, err)
		}
		p.re = re
	}
	if p.typ == tEnum {
		if len(c.Values) == 0 {
			return bad(`type "enum" needs values`)
		}
		p.enum = make(map[string]struct{}, len(c.Values))
		for _, val := range c.Values {
			if _, dup := p.enum[val]; dup {
				return bad("duplicate enum value %q", val)
			}
			p.enum[val] = struct{}{}
		}
	} else if len(c.Values) > 0 {
		return bad(`values apply to type "enum" only`)
	}

	n, in := c.Name, c.In
	p.errRequired = paramError(n, in, "required", "is required")
	p.errRepeated = paramError(n, in, "repeated", "must not be repeated")
	switch p.typ {
	case tString:
		p.errType = paramError(n, in, "type", "must be a string")
	case tInt:
		p.errType = paramError(n, in, "type", "must be an integer")
	case tNumber:
		p.errType = paramError(n, in, "type", "must be a number")
	case tBool:
		if p.loc == locJSON {
			p.errType = paramError(n, in, "type", "must be a boolean (true or false)")
		} else {
			p.errType = paramError(n, in, "type", "must be a boolean (true, false, 1 or 0)")
		}
	case tEnum:
		quoted := make([]string, len(c.Values))
		for i, val := range c.Values {
			quoted[i] = quote(val)
		}
		p.errEnum = paramError(n, in, "enum", "must be one of "+strings.Join(quoted, ", "))
		p.errType = p.errEnum
	}
	p.errMin = paramError(n, in, "min", "must be >= "+fmtNum(p.min))
	p.errMax = paramError(n, in, "max", "must be <= "+fmtNum(p.max))
	p.errMinLen = paramError(n, in, "min_length", "must be at least "+strconv.Itoa(p.minLen)+" characters")
	p.errMaxLen = paramError(n, in, "max_length", "must be at most "+strconv.Itoa(p.maxLen)+" characters")
	p.errRegex = paramError(n, in, "regex", "must match regex "+quote(c.Regex))

	if c.Default != "" {
		if e := p.checkText([]byte(c.Default)); e != nil {
			return bad("default %q: %s", c.Default, strings.TrimPrefix(e.msg, `parameter `+quote(n)+` (`+in+`): `))
		}
		p.def = []byte(c.Default)
		p.defQuery = []byte(url.QueryEscape(c.Name) + "=" + url.QueryEscape(c.Default))
	}
	return p, nil
}

func clampInt(f float64) int64 {
	switch {
	case f <= math.MinInt64:
		return math.MinInt64
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(f)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func quote(s string) string { return strconv.Quote(s) }
