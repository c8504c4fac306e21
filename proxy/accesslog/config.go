package accesslog

import "github.com/sluicegw/sluice/policy/logconf"

// The [access_log] schema, its defaults and its validation live in
// policy/logconf, so that policy never imports the data plane (issue 10,
// layering). The logger takes that Config as its own.
type (
	// Config is the [access_log] section; see logconf.Config.
	Config = logconf.Config
	// SinkConfig is one [[access_log.sinks]] entry; see logconf.SinkConfig.
	SinkConfig = logconf.SinkConfig
)

// Defaults, as logconf fills them.
const (
	DefaultRingSize      = logconf.DefaultRingSize
	DefaultBatchSize     = logconf.DefaultBatchSize
	DefaultFlushInterval = logconf.DefaultFlushInterval
	DefaultQueueBatches  = logconf.DefaultQueueBatches
	DefaultCheckInterval = logconf.DefaultCheckInterval
	DefaultMaxRetries    = logconf.DefaultMaxRetries
	DefaultRetryBackoff  = logconf.DefaultRetryBackoff
	DefaultRetryMax      = logconf.DefaultRetryMax
	DefaultHTTPTimeout   = logconf.DefaultHTTPTimeout
	DefaultSyslogTimeout = logconf.DefaultSyslogTimeout
	DefaultAppName       = logconf.DefaultAppName
	DefaultFacility      = logconf.DefaultFacility
)

// DefaultMaskedParams are the query parameters masked when include_query is
// on and masked_params is not set.
var DefaultMaskedParams = logconf.DefaultMaskedParams

var facilities = logconf.Facilities

// compileConfig fills defaults and validates; the one place is logconf.
func compileConfig(c Config) (Config, error) { return c.Compile() }
