package logconf

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if c.RingSize != DefaultRingSize || c.BatchSize != DefaultBatchSize ||
		time.Duration(c.FlushInterval) != time.Second || *c.SampleRate != 1 ||
		len(c.MaskedParams) != len(DefaultMaskedParams) {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.Sinks) != 1 || c.Sinks[0].Type != "stdout" || c.Sinks[0].Name != "stdout" || c.Sinks[0].QueueBatches != 8 {
		t.Fatalf("default sink: %+v", c.Sinks)
	}
}

const sampleTOML = `
ring_size = 1024
batch_size = "256KiB"
flush_interval = "250ms"
include_query = true
masked_params = ["token", "Session"]
sample_rate = 0.25

[[sinks]]
type = "file"
path = "/var/log/sluice/access.log"

[[sinks]]
type = "http"
url = "http://127.0.0.1:9200/_bulk"
format = "bulk"
index = "sluice-access"
gzip = true
max_retries = 0
headers = { Authorization = "ApiKey abc" }

[[sinks]]
type = "syslog"
network = "tcp"
address = "127.0.0.1:514"
facility = "local3"

[[sinks]]
type = "file"
path = "/tmp/second.log"
`

func TestConfigTOML(t *testing.T) {
	var c Config
	dec := toml.NewDecoder(strings.NewReader(sampleTOML))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if c.RingSize != 1024 || c.BatchSize != 256<<10 || time.Duration(c.FlushInterval) != 250*time.Millisecond ||
		!c.IncludeQuery || *c.SampleRate != 0.25 || len(c.MaskedParams) != 2 {
		t.Fatalf("top level: %+v", c)
	}
	h := c.Sinks[1]
	if h.Name != "http" || h.Format != "bulk" || !h.Gzip || *h.MaxRetries != 0 || h.Headers["Authorization"] != "ApiKey abc" ||
		time.Duration(h.Timeout) != DefaultHTTPTimeout || time.Duration(h.RetryBackoff) != DefaultRetryBackoff {
		t.Fatalf("http sink: %+v", h)
	}
	if s := c.Sinks[2]; s.AppName != "sluice" || s.Facility != "local3" || time.Duration(s.Timeout) != DefaultSyslogTimeout {
		t.Fatalf("syslog sink: %+v", s)
	}
	if c.Sinks[0].Name != "file" || c.Sinks[3].Name != "file_2" {
		t.Fatalf("names %q %q", c.Sinks[0].Name, c.Sinks[3].Name)
	}
	// An explicit empty list masks nothing; it must not become the default.
	var e Config
	if err := toml.Unmarshal([]byte("masked_params = []"), &e); err != nil {
		t.Fatal(err)
	}
	if e, _ = e.Compile(); len(e.MaskedParams) != 0 {
		t.Fatalf("masked_params = [] compiled to %v", e.MaskedParams)
	}
}

func TestConfigUnknownKey(t *testing.T) {
	dec := toml.NewDecoder(bytes.NewReader([]byte("[[sinks]]\ntype=\"file\"\npaht=\"x\"\n")))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestConfigInvalid(t *testing.T) {
	neg, big := -0.1, 1.5
	retries := 101
	cases := map[string]Config{
		"ring_size":       {RingSize: 1000},
		"ring_size ":      {RingSize: 8},
		"batch_size":      {BatchSize: 100},
		"flush_interval":  {FlushInterval: Duration(time.Millisecond)},
		"sample_rate":     {SampleRate: &neg},
		"sample_rate ":    {SampleRate: &big},
		"masked_params":   {MaskedParams: []string{"a=b"}},
		"masked_params ":  {MaskedParams: []string{""}},
		"type: missing":   {Sinks: []SinkConfig{{}}},
		"type":            {Sinks: []SinkConfig{{Type: "kafka"}}},
		"path: missing":   {Sinks: []SinkConfig{{Type: "file"}}},
		"not used":        {Sinks: []SinkConfig{{Type: "stdout", Path: "x"}}},
		"not used ":       {Sinks: []SinkConfig{{Type: "file", Path: "x", URL: "http://x"}}},
		"url":             {Sinks: []SinkConfig{{Type: "http", URL: "ftp://x"}}},
		"url ":            {Sinks: []SinkConfig{{Type: "http", URL: "/relative"}}},
		"format":          {Sinks: []SinkConfig{{Type: "http", URL: "http://x", Format: "xml"}}},
		"index":           {Sinks: []SinkConfig{{Type: "http", URL: "http://x", Format: "bulk", Index: "Upper"}}},
		"index ":          {Sinks: []SinkConfig{{Type: "http", URL: "http://x", Index: "logs"}}},
		"max_retries":     {Sinks: []SinkConfig{{Type: "http", URL: "http://x", MaxRetries: &retries}}},
		"headers":         {Sinks: []SinkConfig{{Type: "http", URL: "http://x", Headers: map[string]string{"Bad Name": "v"}}}},
		"headers ":        {Sinks: []SinkConfig{{Type: "http", URL: "http://x", Headers: map[string]string{"X": "a\r\nb"}}}},
		"network":         {Sinks: []SinkConfig{{Type: "syslog", Network: "sctp", Address: "x:1"}}},
		"address":         {Sinks: []SinkConfig{{Type: "syslog", Address: "nohostport"}}},
		"address ":        {Sinks: []SinkConfig{{Type: "syslog", Network: "unix"}}},
		"facility":        {Sinks: []SinkConfig{{Type: "syslog", Address: "x:1", Facility: "local9"}}},
		"app_name":        {Sinks: []SinkConfig{{Type: "syslog", Address: "x:1", AppName: "has space"}}},
		"duplicate name":  {Sinks: []SinkConfig{{Type: "stdout", Name: "a"}, {Type: "stdout", Name: "a"}}},
		"name":            {Sinks: []SinkConfig{{Type: "stdout", Name: `a"b`}}},
		"queue_batches":   {Sinks: []SinkConfig{{Type: "stdout", QueueBatches: 5000}}},
		"check_interval":  {Sinks: []SinkConfig{{Type: "file", Path: "x", CheckInterval: Duration(time.Microsecond)}}},
		"retry_max_backo": {Sinks: []SinkConfig{{Type: "http", URL: "http://x", RetryBackoff: Duration(time.Second), RetryMaxBackoff: Duration(time.Millisecond)}}},
	}
	for want, c := range cases {
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", want)
			continue
		}
		if !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("%s: error %q does not name the problem", want, err)
		}
	}
}

func TestConfigDoesNotEchoURL(t *testing.T) {
	err := Config{Sinks: []SinkConfig{{Type: "http", URL: "ftp://user:hunter2@x"}}}.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

func TestConfigTOMLNumbers(t *testing.T) {
	var c Config
	if err := toml.Unmarshal([]byte("sample_rate = 1\nbatch_size = 65536\n"), &c); err != nil {
		t.Fatal(err)
	}
	if *c.SampleRate != 1 || c.BatchSize != 65536 {
		t.Fatalf("%v %v", *c.SampleRate, c.BatchSize)
	}
	if err := toml.Unmarshal([]byte(`flush_interval = "soon"`), &c); err == nil {
		t.Fatal("bad duration accepted")
	}
	if err := toml.Unmarshal([]byte(`batch_size = "1 mib"`), &c); err == nil {
		t.Fatal("bad size accepted")
	}
	// One grammar with [server]: a space before the unit is fine (issue 10).
	if err := toml.Unmarshal([]byte(`batch_size = "1 MiB"`), &c); err != nil || c.BatchSize != 1<<20 {
		t.Fatalf("batch_size = \"1 MiB\": %v %v", c.BatchSize, err)
	}
}
