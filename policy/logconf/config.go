// Package logconf is the [access_log] table's schema, defaults and
// validation. It lives under policy, not beside the logger in proxy/accesslog,
// so that compiling a config never imports the data plane (issue 10,
// layering); proxy/accesslog takes this Config as its own.
package logconf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/policy/units"
)

// Duration and Size are the config's one duration and one size type: a size
// in [access_log] reads exactly as one in [server].
type (
	Duration = units.Duration
	Size     = units.Size
)

// DefaultMaskedParams are the query parameters masked when include_query is
// on and masked_params is not set.
var DefaultMaskedParams = []string{
	"access_token", "api_key", "apikey", "auth", "code", "id_token", "key",
	"password", "refresh_token", "secret", "sig", "signature", "token",
}

// Config is the [access_log] section. The zero value is usable: every zero
// field takes its default (see each field), and no sinks means one stdout
// sink. Config is a plain value; New copies what it needs.
type Config struct {
	// RingSize is the number of record slots between the request path and
	// the shipper; a power of two, 16..4194304. Each slot is about 2.2 KiB,
	// all allocated up front, so the default costs about 35 MiB. When the
	// ring is full records are dropped and counted (default 16384).
	RingSize int `toml:"ring_size"`
	// BatchSize is the encoded size at which a batch is handed to the
	// sinks, 4KiB..64MiB (default "1MiB").
	BatchSize Size `toml:"batch_size"`
	// FlushInterval is the longest a record waits in an unfilled batch,
	// 10ms..1h (default "1s").
	FlushInterval Duration `toml:"flush_interval"`
	// IncludeQuery logs the query string the client sent (not the
	// upstream's) after the path, with the values
	// of MaskedParams replaced by "***" (default false).
	IncludeQuery bool `toml:"include_query"`
	// MaskedParams are query parameter names whose values are masked,
	// matched case-insensitively after URL decoding. Only used with
	// IncludeQuery; an explicit empty list masks nothing (default
	// DefaultMaskedParams: access_token, api_key, apikey, auth, code,
	// id_token, key, password, refresh_token, secret, sig, signature, token).
	MaskedParams []string `toml:"masked_params"`
	// SampleRate is the fraction of successful (status < 400) requests
	// logged, 0..1; responses with status >= 400 are always logged
	// (default 1.0).
	SampleRate *float64 `toml:"sample_rate"`
	// Sinks are the destinations; each gets every batch through its own
	// bounded queue (default: one stdout sink).
	Sinks []SinkConfig `toml:"sinks"`
}

// SinkConfig is one [[access_log.sinks]] entry. Fields not used by its type
// must be left empty.
type SinkConfig struct {
	// Type is file, stdout, http or syslog (required).
	Type string `toml:"type"`
	// Name labels the sink's metrics, [A-Za-z0-9_-], unique (default the
	// type, with _2, _3, ... appended for repeats).
	Name string `toml:"name"`
	// QueueBatches is how many batches may wait for this sink; when the
	// queue is full a new batch is dropped for this sink and its records
	// counted, 1..1024 (default 8).
	QueueBatches int `toml:"queue_batches"`

	// Path is the file to append to, created with mode 0640 (file:
	// required). The file is reopened by Logger.Reopen and when the path
	// no longer names the open file (moved or deleted).
	Path string `toml:"path"`
	// CheckInterval is how often a file sink stats Path to notice a
	// rotation, 10ms..1h (file; default "1s").
	CheckInterval Duration `toml:"check_interval"`

	// URL receives POSTed batches, http or https (http: required).
	URL string `toml:"url"`
	// Format is ndjson (one JSON object per line) or bulk (Elasticsearch
	// _bulk: an action line before each record) (http; default "ndjson").
	Format string `toml:"format"`
	// Index names the target index in each bulk action line; empty means
	// the index in the URL (http bulk; default "").
	Index string `toml:"index"`
	// Gzip compresses request bodies (Content-Encoding: gzip) (http;
	// default false).
	Gzip bool `toml:"gzip"`
	// MaxRetries is how many times a failed batch is retried after the
	// first attempt, with exponential backoff and jitter, 0..100; connection
	// errors, 408, 429 and 5xx are retried, other statuses are not (http;
	// default 3).
	MaxRetries *int `toml:"max_retries"`
	// RetryBackoff is the first retry delay, doubled per retry (http;
	// default "200ms").
	RetryBackoff Duration `toml:"retry_backoff"`
	// RetryMaxBackoff caps the retry delay (http; default "10s").
	RetryMaxBackoff Duration `toml:"retry_max_backoff"`
	// Timeout bounds one HTTP request, or one syslog dial or write
	// (http, syslog; default "10s" for http, "5s" for syslog).
	Timeout Duration `toml:"timeout"`
	// Headers are extra HTTP request headers, e.g. Authorization (http;
	// default none). Values are never logged.
	Headers map[string]string `toml:"headers"`

	// Network is udp, tcp (RFC 6587 octet counting) or unix (a datagram
	// socket such as /dev/log) (syslog; default "udp").
	Network string `toml:"network"`
	// Address is host:port for udp and tcp, a socket path for unix
	// (syslog: required).
	Address string `toml:"address"`
	// AppName is the RFC 5424 APP-NAME, 1..48 printable ASCII characters
	// (syslog; default "sluice").
	AppName string `toml:"app_name"`
	// Facility is kern, user, mail, daemon, auth, syslog, lpr, news, uucp,
	// cron, authpriv, ftp or local0..local7 (syslog; default "local0").
	Facility string `toml:"facility"`
}

// Defaults.
const (
	DefaultRingSize      = 16384
	DefaultBatchSize     = 1 << 20
	DefaultFlushInterval = time.Second
	DefaultQueueBatches  = 8
	DefaultCheckInterval = time.Second
	DefaultMaxRetries    = 3
	DefaultRetryBackoff  = 200 * time.Millisecond
	DefaultRetryMax      = 10 * time.Second
	DefaultHTTPTimeout   = 10 * time.Second
	DefaultSyslogTimeout = 5 * time.Second
	DefaultAppName       = "sluice"
	DefaultFacility      = "local0"
)

// Facilities maps the syslog facility names to their numbers. Read-only.
var Facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Validate reports the first problem in c, after defaults are applied.
func (c Config) Validate() error {
	_, err := c.Compile()
	return err
}

// Compile returns a copy of c with defaults filled in (the one place they
// are), validated.
func (c Config) Compile() (Config, error) {
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = Duration(DefaultFlushInterval)
	}
	if c.MaskedParams == nil {
		c.MaskedParams = DefaultMaskedParams
	}
	rate := 1.0
	if c.SampleRate != nil {
		rate = *c.SampleRate
	}
	c.SampleRate = &rate
	if c.RingSize < 16 || c.RingSize > 1<<22 || c.RingSize&(c.RingSize-1) != 0 {
		return c, fmt.Errorf("access_log.ring_size: %d is not a power of two in 16..4194304", c.RingSize)
	}
	if c.BatchSize < 4<<10 || c.BatchSize > 64<<20 {
		return c, fmt.Errorf("access_log.batch_size: %d is outside 4KiB..64MiB", c.BatchSize)
	}
	if err := durationIn("access_log.flush_interval", c.FlushInterval, 10*time.Millisecond, time.Hour); err != nil {
		return c, err
	}
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		return c, fmt.Errorf("access_log.sample_rate: %v is outside 0..1", rate)
	}
	for i, p := range c.MaskedParams {
		if p == "" || strings.ContainsAny(p, "&;= \t") {
			return c, fmt.Errorf("access_log.masked_params[%d]: %s is not a parameter name", i, units.Quote(p))
		}
	}
	if len(c.Sinks) == 0 {
		c.Sinks = []SinkConfig{{Type: "stdout"}}
	} else {
		c.Sinks = append([]SinkConfig(nil), c.Sinks...)
	}
	seen := map[string]int{}
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.Name == "" {
			seen[s.Type]++
			s.Name = s.Type
			if n := seen[s.Type]; n > 1 {
				s.Name += "_" + strconv.Itoa(n)
			}
		}
		if err := s.compile(); err != nil {
			return c, fmt.Errorf("access_log.sinks[%d] (%s): %w", i, s.Name, err)
		}
		if names[s.Name] {
			return c, fmt.Errorf("access_log.sinks[%d]: duplicate name %s", i, units.Quote(s.Name))
		}
		names[s.Name] = true
	}
	return c, nil
}

func (s *SinkConfig) compile() error {
	switch s.Type {
	case "file", "stdout", "http", "syslog":
	case "":
		return errors.New("type: missing (file, stdout, http or syslog)")
	default:
		return fmt.Errorf("type: %s is not file, stdout, http or syslog", units.Quote(s.Type))
	}
	if !validName(s.Name) {
		return fmt.Errorf("name %s: want 1..64 of [A-Za-z0-9_-]", units.Quote(s.Name))
	}
	if s.QueueBatches == 0 {
		s.QueueBatches = DefaultQueueBatches
	}
	if s.QueueBatches < 1 || s.QueueBatches > 1024 {
		return fmt.Errorf("queue_batches: %d is outside 1..1024", s.QueueBatches)
	}
	isFile, isHTTP, isSyslog := s.Type == "file", s.Type == "http", s.Type == "syslog"
	if err := onlyFor("path", s.Path != "" || s.CheckInterval != 0, isFile); err != nil {
		return err
	}
	if err := onlyFor("url, format, index, gzip, max_retries, retry_backoff, retry_max_backoff or headers",
		s.URL != "" || s.Format != "" || s.Index != "" || s.Gzip || s.MaxRetries != nil ||
			s.RetryBackoff != 0 || s.RetryMaxBackoff != 0 || s.Headers != nil, isHTTP); err != nil {
		return err
	}
	if err := onlyFor("network, address, app_name or facility",
		s.Network != "" || s.Address != "" || s.AppName != "" || s.Facility != "", isSyslog); err != nil {
		return err
	}
	if err := onlyFor("timeout", s.Timeout != 0, isHTTP || isSyslog); err != nil {
		return err
	}
	switch s.Type {
	case "stdout":
		return nil
	case "file":
		return s.compileFile()
	case "http":
		return s.compileHTTP()
	default:
		return s.compileSyslog()
	}
}

func (s *SinkConfig) compileFile() error {
	if s.Path == "" {
		return errors.New("path: missing")
	}
	if s.CheckInterval == 0 {
		s.CheckInterval = Duration(DefaultCheckInterval)
	}
	return durationIn("check_interval", s.CheckInterval, 10*time.Millisecond, time.Hour)
}

func (s *SinkConfig) compileHTTP() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: it may carry credentials.
		return errors.New("url: want an absolute http or https URL")
	}
	switch s.Format {
	case "":
		s.Format = "ndjson"
	case "ndjson", "bulk":
	default:
		return fmt.Errorf("format: %s is not ndjson or bulk", units.Quote(s.Format))
	}
	if s.Index != "" {
		if s.Format != "bulk" {
			return errors.New("index: only used with format = \"bulk\"")
		}
		if !validIndex(s.Index) {
			return fmt.Errorf("index: %s is not a valid index name", units.Quote(s.Index))
		}
	}
	if s.MaxRetries == nil {
		n := DefaultMaxRetries
		s.MaxRetries = &n
	}
	if *s.MaxRetries < 0 || *s.MaxRetries > 100 {
		return fmt.Errorf("max_retries: %d is outside 0..100", *s.MaxRetries)
	}
	if s.RetryBackoff == 0 {
		s.RetryBackoff = Duration(DefaultRetryBackoff)
	}
	if s.RetryMaxBackoff == 0 {
		s.RetryMaxBackoff = Duration(DefaultRetryMax)
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultHTTPTimeout)
	}
	if err := durationIn("retry_backoff", s.RetryBackoff, time.Millisecond, time.Hour); err != nil {
		return err
	}
	if err := durationIn("retry_max_backoff", s.RetryMaxBackoff, time.Duration(s.RetryBackoff), time.Hour); err != nil {
		return err
	}
	if err := durationIn("timeout", s.Timeout, 10*time.Millisecond, time.Hour); err != nil {
		return err
	}
	for k, v := range s.Headers {
		if !validToken(k) {
			return fmt.Errorf("headers: %s is not a header name", units.Quote(k))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return fmt.Errorf("headers: value of %s has control characters", units.Quote(k))
		}
	}
	return nil
}

func (s *SinkConfig) compileSyslog() error {
	if s.Network == "" {
		s.Network = "udp"
	}
	if s.AppName == "" {
		s.AppName = DefaultAppName
	}
	if s.Facility == "" {
		s.Facility = DefaultFacility
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultSyslogTimeout)
	}
	switch s.Network {
	case "udp", "tcp":
		if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
			return fmt.Errorf("address: %s is not host:port", units.Quote(s.Address))
		}
	case "unix":
		if s.Address == "" {
			return errors.New("address: missing socket path")
		}
	default:
		return fmt.Errorf("network: %s is not udp, tcp or unix", units.Quote(s.Network))
	}
	if len(s.AppName) > 48 || strings.ContainsFunc(s.AppName, func(r rune) bool { return r < 33 || r > 126 }) {
		return fmt.Errorf("app_name: %s is not 1..48 printable ASCII characters", units.Quote(s.AppName))
	}
	if _, ok := Facilities[s.Facility]; !ok {
		return fmt.Errorf("facility: %s is unknown", units.Quote(s.Facility))
	}
	return durationIn("timeout", s.Timeout, 10*time.Millisecond, time.Hour)
}

func onlyFor(keys string, set, allowed bool) error {
	if set && !allowed {
		return fmt.Errorf("%s: not used by this sink type", keys)
	}
	return nil
}

func durationIn(key string, d Duration, lo, hi time.Duration) error {
	if v := time.Duration(d); v < lo || v > hi {
		return fmt.Errorf("%s: %v is outside %v..%v", key, v, lo, hi)
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validIndex follows Elasticsearch's index name rules.
func validIndex(s string) bool {
	if len(s) > 255 || s == "." || s == ".." || strings.ContainsAny(s[:1], "-_+") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x7f || 'A' <= c && c <= 'Z' || strings.IndexByte(`\/*?"<>|,#:`, c) >= 0 {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
