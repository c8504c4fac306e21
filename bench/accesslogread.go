package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluicegw/sluice/policy/jsonscan"
)

// This file reads Sluice's JSON access log (proxy/accesslog/encode.go writes
// it, proxy/logrecord.go fills it) for `sluice-bench plan`. Reading is strict:
// a plan built on silently skipped lines would describe traffic the operator
// does not have, so the first bad line stops the read with its line number.

// MaxLogLine bounds one access-log line. The gateway caps every variable
// field of a record (the query at a few KiB, the user agent, ids), so a
// longer line is not one of its records; the cap also bounds the memory a
// corrupt file (no newline for gigabytes) can take.
const MaxLogLine = 64 << 10

// LogRecord is one access-log line, decoded.
type LogRecord struct {
	Time      time.Time
	RequestID string
	TraceID   string
	ClientIP  string
	Method    string
	Host      string
	// Path is the request path without the query; Query is what followed
	// the '?' (masked values read "***"), empty when the log keeps no query.
	Path, Query string
	Status      int
	ErrorCode   string
	BytesIn     int64
	BytesOut    int64
	Group       string
	Stage       string
	API         string
	Consumer    string
	Upstream    string
	Attempts    int
	// LatencyUS = GatewayUS + BackendUS, whole microseconds.
	LatencyUS, GatewayUS, BackendUS int64
	Cache, Throttle, Auth           string
	UserAgent                       string
}

// logLine is the wire form. Every key is a pointer or has a presence check
// where the encoder always writes it, so a line that lacks a key the gateway
// always writes is refused instead of read as zero.
type logLine struct {
	Time      *string `json:"time"`
	RequestID string  `json:"request_id"`
	TraceID   string  `json:"trace_id"`
	ClientIP  string  `json:"client_ip"`
	Method    *string `json:"method"`
	Host      string  `json:"host"`
	Path      *string `json:"path"`
	Status    *int    `json:"status"`
	ErrorCode string  `json:"error_code"`
	BytesIn   int64   `json:"bytes_in"`
	BytesOut  int64   `json:"bytes_out"`
	Group     string  `json:"group"`
	Stage     string  `json:"stage"`
	API       string  `json:"api"`
	Consumer  string  `json:"consumer"`
	Upstream  string  `json:"upstream"`
	Attempts  int     `json:"attempts"`
	LatencyUS *int64  `json:"latency_us"`
	GatewayUS int64   `json:"gateway_us"`
	BackendUS int64   `json:"backend_us"`
	Cache     string  `json:"cache"`
	Throttle  string  `json:"throttle"`
	Auth      string  `json:"auth"`
	UserAgent string  `json:"user_agent"`
}

// The outcome names the encoder writes (proxy/accesslog/record.go); any
// other value means the line is not a Sluice record.
var (
	logCacheNames    = []string{"", "none", "hit", "miss", "bypass", "stale", "revalidated", "coalesced"}
	logThrottleNames = []string{"", "none", "pass", "limited"}
	logAuthNames     = []string{"", "none", "ok", "anonymous", "failed", "forbidden"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// ParseLogLine decodes one access-log line strictly: one JSON object with
// the gateway's keys only, the keys every record has present, values in
// range. It does not keep line.
func ParseLogLine(line []byte, rec *LogRecord) error {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return errors.New("empty line")
	}
	if line[0] != '{' {
		return errors.New("not a JSON object (a Sluice access-log line starts with '{')")
	}
	var w logLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("not a Sluice access-log record: %v", err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	if k := duplicateLogKey(line); k != "" {
		return fmt.Errorf("key %q twice", k)
	}
	switch {
	case w.Time == nil:
		return errors.New(`missing "time"`)
	case w.Method == nil || *w.Method == "":
		return errors.New(`missing "method"`)
	case w.Path == nil:
		return errors.New(`missing "path"`)
	case w.Status == nil:
		return errors.New(`missing "status"`)
	case w.LatencyUS == nil:
		return errors.New(`missing "latency_us"`)
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil {
		return fmt.Errorf(`bad "time" %q: %v`, clip(*w.Time), err)
	}
	if *w.Status < 100 || *w.Status > 599 {
		return fmt.Errorf(`"status" %d out of range 100..599`, *w.Status)
	}
	if !isToken(*w.Method) {
		return fmt.Errorf(`bad "method" %q`, clip(*w.Method))
	}
	path, query, _ := bytes.Cut([]byte(*w.Path), []byte{'?'})
	if len(path) == 0 || path[0] != '/' {
		return fmt.Errorf(`"path" %q does not start with /`, clip(*w.Path))
	}
	if w.BytesIn < 0 || w.BytesOut < 0 || *w.LatencyUS < 0 || w.GatewayUS < 0 || w.BackendUS < 0 || w.Attempts < 0 {
		return errors.New("negative size, latency or attempts")
	}
	if w.BackendUS > *w.LatencyUS {
		return fmt.Errorf(`"backend_us" %d exceeds "latency_us" %d`, w.BackendUS, *w.LatencyUS)
	}
	if w.API == "" && (w.Group != "" || w.Stage != "") {
		// The gateway names an API's group and stage only together with it.
		return errors.New(`"group" or "stage" without "api"`)
	}
	if w.API != "" && w.Group == "" {
		return errors.New(`"api" without "group"`)
	}
	if !oneOf(w.Cache, logCacheNames) || !oneOf(w.Throttle, logThrottleNames) || !oneOf(w.Auth, logAuthNames) {
		return fmt.Errorf(`unknown "cache" %q, "throttle" %q or "auth" %q`, clip(w.Cache), clip(w.Throttle), clip(w.Auth))
	}
	*rec = LogRecord{
		Time: t, RequestID: w.RequestID, TraceID: w.TraceID, ClientIP: w.ClientIP,
		Method: *w.Method, Host: w.Host, Path: string(path), Query: string(query),
		Status: *w.Status, ErrorCode: w.ErrorCode, BytesIn: w.BytesIn, BytesOut: w.BytesOut,
		Group: w.Group, Stage: w.Stage, API: w.API, Consumer: w.Consumer, Upstream: w.Upstream,
		Attempts: w.Attempts, LatencyUS: *w.LatencyUS, GatewayUS: w.GatewayUS, BackendUS: w.BackendUS,
		Cache: w.Cache, Throttle: w.Throttle, Auth: w.Auth, UserAgent: w.UserAgent,
	}
	return nil
}

// logKeys are the keys of a record, as logLine names them.
var logKeys = [...]string{"time", "request_id", "trace_id", "client_ip", "method", "host", "path", "status",
	"error_code", "bytes_in", "bytes_out", "group", "stage", "api", "consumer", "upstream", "attempts",
	"latency_us", "gateway_us", "backend_us", "cache", "throttle", "auth", "user_agent"}

// duplicateLogKey returns a key that line, a JSON object the decoder took,
// has more than once, or "". The decoder keeps the last of duplicates
// silently; the encoder writes each key once, so a line with two "status"
// is two records run together or an edited line, and which of its values
// is the truth cannot be known.
func duplicateLogKey(line []byte) string {
	var it jsonscan.ObjectIter
	if it.Start(line, jsonscan.Rules{}) != nil {
		return ""
	}
	var seen uint32
	for {
		m, ok, err := it.Next()
		if !ok || err != nil {
			return ""
		}
		for i, k := range logKeys {
			if jsonscan.EqualUnescaped(m.Key, m.KeyEsc, k) {
				if seen&(1<<i) != 0 {
					return k
				}
				seen |= 1 << i
				break
			}
		}
	}
}

// isToken reports whether s is an HTTP method token.
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// clip keeps error messages about hostile input short.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// LogReadError is a read error tied to a line of the access log.
type LogReadError struct {
	File string
	Line int
	Err  error
}

func (e *LogReadError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *LogReadError) Unwrap() error { return e.Err }

// ErrNoRecords is returned by ReadAccessLogFile for a log with no record.
var ErrNoRecords = errors.New("no access-log records")

// ReadAccessLog reads an access log, plain or gzip (detected by its magic
// bytes, not its name: rotated logs are often renamed), and calls fn for
// every record in order with its 1-based line number. Blank lines are
// skipped; any other bad line stops the read. name labels errors. fn's
// error stops the read and is returned wrapped with the line. It returns the
// number of records read.
func ReadAccessLog(r io.Reader, name string, fn func(line int, rec *LogRecord) error) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, &LogReadError{File: name, Err: err}
	}
	var src io.Reader = br
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, &LogReadError{File: name, Err: fmt.Errorf("gzip: %w", err)}
		}
		defer zr.Close()
		src = zr
	}
	er := &errReader{r: src}
	sc := bufio.NewScanner(er)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLogLine)
	var rec LogRecord
	line, n := 0, 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if err := ParseLogLine(b, &rec); err != nil {
			// The scanner hands out the partial last line of a stream that
			// broke off: the break, not the half line, is the news.
			if er.err != nil && !sc.Scan() {
				return n, &LogReadError{File: name, Line: line, Err: streamErr(gz, er.err)}
			}
			return n, &LogReadError{File: name, Line: line, Err: err}
		}
		n++
		if err := fn(line, &rec); err != nil {
			return n, &LogReadError{File: name, Line: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", MaxLogLine)
		} else {
			err = streamErr(gz, err)
		}
		return n, &LogReadError{File: name, Line: line + 1, Err: err}
	}
	return n, nil
}

// streamErr explains a read error of the log's byte stream.
func streamErr(gz bool, err error) error {
	switch {
	case gz && errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("gzip stream truncated (the file ends inside compressed data)")
	case gz:
		return fmt.Errorf("gzip: %w", err)
	}
	return err
}

// errReader remembers the first error other than EOF its reader returned.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// ReadAccessLogFile is ReadAccessLog on a file; a log without any record is
// an error (ErrNoRecords), since no plan can be built from it.
func ReadAccessLogFile(path string, fn func(line int, rec *LogRecord) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("access log: %w", err)
	}
	defer f.Close()
	n, err := ReadAccessLog(f, path, fn)
	if err == nil && n == 0 {
		return 0, &LogReadError{File: path, Err: ErrNoRecords}
	}
	return n, err
}
