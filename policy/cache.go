package policy

import (
	"github.com/sluicegw/sluice/policy/httpbytes"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/store/cache"
)

// CacheStoreConfig is the [cache] table: the one response-cache store of the
// process (issue 13). The store outlives reloads; changes need a restart.
type CacheStoreConfig struct {
	// MaxSize is the memory for cached answers, off the Go heap (default
	// "64MiB"; rounded up to a multiple of 32 MiB; at least "32MiB").
	MaxSize Size `toml:"max_size"`
	// MaxObjectSize caps one stored entry (header, body and metadata) across
	// all APIs; an API's own max_object_size can only be smaller (default "8MiB").
	MaxObjectSize Size `toml:"max_object_size"`
}

// CacheConfig is an API's [groups.apis.cache] table. Its presence turns the
// response cache on for the API, as a shared cache (RFC 9111) that honours
// the origin's Cache-Control.
type CacheConfig struct {
	// TTL is the freshness lifetime used when the origin gives none
	// (no max-age, s-maxage or Expires), or always when override is set; 1s to
	// 7200s, or 0 for none (default 0: only the origin's freshness counts,
	// plus the heuristic below).
	TTL Duration `toml:"ttl"`
	// Override uses ttl whatever the origin's freshness says (no-store,
	// private and the other storage rules still apply) (default false).
	Override bool `toml:"override"`
	// Heuristic allows RFC 9111 §4.2.2 heuristic freshness (10 % of the time
	// since Last-Modified, at most a day) for answers without explicit
	// freshness (default true).
	Heuristic *bool `toml:"heuristic"`
	// KeyQuery lists the query parameters in the cache key, sorted by name so
	// their order does not split the cache; ["*"] means all of them, [] none
	// (default ["*"]).
	KeyQuery []string `toml:"key_query"`
	// KeyHeaders lists request headers in the cache key (default none).
	KeyHeaders []string `toml:"key_headers"`
	// Methods served from the cache: GET and/or HEAD (default ["GET", "HEAD"]).
	Methods []string `toml:"methods"`
	// Statuses are the answer statuses stored (default [200, 203, 204, 300,
	// 301, 404, 410]).
	Statuses []int `toml:"statuses"`
	// MaxObjectSize caps one stored answer; larger ones are forwarded and
	// counted, not stored (default "1MiB").
	MaxObjectSize Size `toml:"max_object_size"`
	// StaleIfError serves a stale answer this long past its freshness when
	// the origin fails, times out or answers 500, 502, 503 or 504, unless the
	// answer says must-revalidate; the origin's stale-if-error wins (default 0: off).
	StaleIfError Duration `toml:"stale_if_error"`
	// StoreSetCookie stores answers that carry Set-Cookie (default false:
	// such answers are personal and never stored).
	StoreSetCookie bool `toml:"store_set_cookie"`
	// SurrogateKeyHeader names the origin's response header holding
	// space-separated surrogate keys for tag purges; the gateway removes it
	// from answers (default "Surrogate-Key").
	SurrogateKeyHeader string `toml:"surrogate_key_header"`
	// CoalesceTimeout is how long concurrent misses for one key wait for the
	// first one's answer before going to the origin themselves; at least 10ms
	// (default "5s").
	CoalesceTimeout Duration `toml:"coalesce_timeout"`
}

// CompressionConfig is a [groups.compression] or [groups.apis.compression]
// table; an API's table replaces its group's. Its presence compresses
// answers the client accepts compressed.
type CompressionConfig struct {
	// Encodings the gateway may use, in its order of preference when the
	// client's q-values tie: "br", "zstd", "gzip" (default all three, in that order).
	Encodings []string `toml:"encodings"`
	// ContentTypes are the media types compressed; "text/*" matches a whole
	// type (default ["text/*", "application/json", "application/javascript",
	// "application/xml", "application/problem+json", "image/svg+xml"]).
	ContentTypes []string `toml:"content_types"`
	// MinSize is the least body size compressed (default "1KiB").
	MinSize Size `toml:"min_size"`
}

// Cache defaults and bounds.
const (
	DefaultCacheMaxSize       = 64 << 20
	MinCacheMaxSize           = 32 << 20
	DefaultCacheStoreMaxObj   = 8 << 20
	DefaultCacheMaxObjectSize = 1 << 20
	DefaultCoalesceTimeout    = 5 * time.Second
	MinCoalesceTimeout        = 10 * time.Millisecond
	MinCacheTTL               = time.Second
	MaxCacheTTL               = 7200 * time.Second
	DefaultSurrogateKeyHeader = "Surrogate-Key"
	DefaultCompressMinSize    = 1 << 10
)

// DefaultCompressTypes are the media types compressed by default.
var DefaultCompressTypes = []string{"text/*", "application/json", "application/javascript",
	"application/xml", "application/problem+json", "image/svg+xml"}

// Cache is an API's compiled cache settings (per snapshot; the Store it
// uses is the Server's and outlives snapshots). Read-only.
type Cache struct {
	Key             *cache.KeySpec
	Statuses        cache.StatusSet
	TTL             int64 // seconds; 0: none
	Override        bool
	Heuristic       bool
	GET, HEAD       bool
	MaxObjectSize   int
	StaleIfError    int64 // seconds
	StoreSetCookie  bool
	TagHeader       []byte
	CoalesceTimeout time.Duration
}

// Encoding is a content coding the gateway compresses with.
type Encoding uint8

// Encodings; EncodingIdentity is no compression.
const (
	EncodingIdentity Encoding = iota
	EncodingBrotli
	EncodingZstd
	EncodingGzip
	NumEncodings
)

var encodingNames = [NumEncodings]string{"identity", "br", "zstd", "gzip"}

func (e Encoding) String() string {
	if e < NumEncodings {
		return encodingNames[e]
	}
	return "invalid"
}

// Compression is the compiled compression policy. Read-only.
type Compression struct {
	Encodings []Encoding // preference order
	Types     []string   // exact media types, lower case
	Prefixes  []string   // "text/" for "text/*"
	MinSize   int
}

// Compresses reports whether a Content-Type value is in the list (parameters
// ignored, case-insensitive, no allocation).
func (c *Compression) Compresses(ct []byte) bool {
	n := 0
	for n < len(ct) && ct[n] != ';' && ct[n] != ' ' {
		n++
	}
	ct = ct[:n]
	for _, t := range c.Types {
		if httpbytes.EqualFoldASCII(ct, t) {
			return true
		}
	}
	for _, p := range c.Prefixes {
		if len(ct) > len(p) && httpbytes.EqualFoldASCII(ct[:len(p)], p) {
			return true
		}
	}
	return false
}

func applyCacheDefaults(c *Config) {
	setSize(&c.Cache.MaxSize, DefaultCacheMaxSize)
	setSize(&c.Cache.MaxObjectSize, DefaultCacheStoreMaxObj)
	for gi := range c.Groups {
		g := &c.Groups[gi]
		compressionDefaults(g.Compression)
		for ai := range g.APIs {
			a := &g.APIs[ai]
			compressionDefaults(a.Compression)
			if k := a.Cache; k != nil {
				if k.KeyQuery == nil {
					k.KeyQuery = []string{"*"}
				}
				if len(k.Methods) == 0 {
					k.Methods = []string{"GET", "HEAD"}
				}
				if k.Heuristic == nil {
					on := true
					k.Heuristic = &on
				}
				setSize(&k.MaxObjectSize, DefaultCacheMaxObjectSize)
				setDur(&k.CoalesceTimeout, DefaultCoalesceTimeout)
				if k.SurrogateKeyHeader == "" {
					k.SurrogateKeyHeader = DefaultSurrogateKeyHeader
				}
			}
		}
	}
}

func compressionDefaults(z *CompressionConfig) {
	if z == nil {
		return
	}
	if len(z.Encodings) == 0 {
		z.Encodings = []string{"br", "zstd", "gzip"}
	}
	if len(z.ContentTypes) == 0 {
		z.ContentTypes = DefaultCompressTypes
	}
	setSize(&z.MinSize, DefaultCompressMinSize)
}

func (c *compiler) cacheStore() {
	k := &c.p.Config.Cache
	if k.MaxSize < MinCacheMaxSize {
		c.add("cache.max_size", "must be at least 32MiB (the store allocates whole 32 MiB buckets)")
	}
	if k.MaxObjectSize < 1024 || int64(k.MaxObjectSize) > int64(k.MaxSize) {
		c.add("cache.max_object_size", "must be between 1KiB and max_size")
	}
}

// cache compiles an API's cache table; nil when it has none.
func (c *compiler) cache(key string, k *CacheConfig) *Cache {
	if k == nil {
		return nil
	}
	if k.TTL != 0 {
		c.durationIn(key+".ttl", k.TTL, MinCacheTTL, MaxCacheTTL)
	}
	if k.Override && k.TTL == 0 {
		c.add(key+".override", "override needs a ttl")
	}
	c.durationIn(key+".coalesce_timeout", k.CoalesceTimeout, MinCoalesceTimeout, 0)
	if k.StaleIfError < 0 {
		c.add(key+".stale_if_error", "must not be negative")
	}
	out := &Cache{TTL: int64(k.TTL.D() / time.Second), Override: k.Override, Heuristic: *k.Heuristic,
		MaxObjectSize: int(k.MaxObjectSize), StaleIfError: int64(k.StaleIfError.D() / time.Second),
		StoreSetCookie: k.StoreSetCookie, CoalesceTimeout: k.CoalesceTimeout.D()}
	if int64(k.MaxObjectSize) > int64(c.p.Config.Cache.MaxObjectSize) {
		c.add(key+".max_object_size", "is over [cache] max_object_size")
	}
	for i, m := range k.Methods {
		switch m {
		case "GET":
			out.GET = true
		case "HEAD":
			out.HEAD = true
		default:
			c.add(key+".methods["+strconv.Itoa(i)+"]", "only GET and HEAD answers are cached, not "+quote(m))
		}
	}
	if len(k.Statuses) == 0 {
		out.Statuses = cache.DefaultStatuses
	}
	for i, s := range k.Statuses {
		if s < 200 || s > 599 || s == 206 || s == 304 {
			c.add(key+".statuses["+strconv.Itoa(i)+"]", "status "+strconv.Itoa(s)+" cannot be cached (want 200-599 but 206 and 304)")
			continue
		}
		out.Statuses.Add(s)
	}
	all := false
	var query []string
	for i, q := range k.KeyQuery {
		switch {
		case q == "*":
			all = true
		case q == "" || strings.ContainsAny(q, "&="):
			c.add(key+".key_query["+strconv.Itoa(i)+"]", "invalid query parameter name "+quote(q))
		default:
			query = append(query, q)
		}
	}
	for i, h := range k.KeyHeaders {
		if !headerNameRE.MatchString(h) {
			c.add(key+".key_headers["+strconv.Itoa(i)+"]", "invalid header name "+quote(h))
		}
	}
	if !headerNameRE.MatchString(k.SurrogateKeyHeader) {
		c.add(key+".surrogate_key_header", "invalid header name "+quote(k.SurrogateKeyHeader))
	}
	out.TagHeader = []byte(k.SurrogateKeyHeader)
	out.Key = cache.NewKeySpec(all, query, k.KeyHeaders)
	return out
}

// compression compiles a compression table; nil when there is none.
func (c *compiler) compression(key string, z *CompressionConfig) *Compression {
	if z == nil {
		return nil
	}
	out := &Compression{MinSize: int(z.MinSize)}
	seen := map[Encoding]bool{}
	for i, e := range z.Encodings {
		var enc Encoding
		switch e {
		case "br":
			enc = EncodingBrotli
		case "zstd":
			enc = EncodingZstd
		case "gzip":
			enc = EncodingGzip
		default:
			c.add(key+".encodings["+strconv.Itoa(i)+"]", "unknown encoding "+quote(e)+": want br, zstd or gzip")
			continue
		}
		if !seen[enc] {
			seen[enc] = true
			out.Encodings = append(out.Encodings, enc)
		}
	}
	for i, t := range z.ContentTypes {
		t = strings.ToLower(strings.TrimSpace(t))
		slash := strings.IndexByte(t, '/')
		if slash <= 0 || slash == len(t)-1 || strings.ContainsAny(t, " ;,") {
			c.add(key+".content_types["+strconv.Itoa(i)+"]", "invalid media type "+quote(t))
			continue
		}
		if strings.HasSuffix(t, "/*") {
			out.Prefixes = append(out.Prefixes, t[:len(t)-1])
		} else {
			out.Types = append(out.Types, t)
		}
	}
	return out
}
