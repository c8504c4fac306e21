package policy

import (
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// WebSocketConfig is an API's [groups.apis.websocket] table. Its presence
// makes the API accept WebSocket upgrades: a GET with "Upgrade: websocket"
// passes every request step like any request (IP access, CORS, auth,
// throttling, parameters) and is then tunnelled to a target of the API's
// backend. Other requests to the API are proxied as usual.
type WebSocketConfig struct {
	// IdleTimeout closes a tunnel that carried no bytes either way for this
	// long (default 60s, like nginx's proxy_read_timeout; at least 1s).
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxLifetime closes a tunnel this long after it opened, whatever its
	// traffic (default 24h; at least 1s).
	MaxLifetime Duration `toml:"max_lifetime"`
	// MaxTunnels caps open tunnels of this API per stage; a handshake over it
	// gets 503 TooManyTunnels. 0 means only [server] max_tunnels applies
	// (default 0).
	MaxTunnels int `toml:"max_tunnels"`
}

// Tunnel defaults.
const (
	DefaultTunnelIdle     = 60 * time.Second
	DefaultTunnelLifetime = 24 * time.Hour
	DefaultMaxTunnels     = 10000
	minTunnelTimeout      = time.Second
)

// WebSocket is an API's compiled tunnel settings, with its per-API metrics
// (created at compile time, the same objects across reloads).
type WebSocket struct {
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	MaxTunnels  int64
	Opened      *metrics.Counter
	Open        *metrics.Gauge
}

func applyWebSocketDefaults(c *Config) {
	if c.Server.MaxTunnels == 0 {
		c.Server.MaxTunnels = DefaultMaxTunnels
	}
	for gi := range c.Groups {
		for ai := range c.Groups[gi].APIs {
			if w := c.Groups[gi].APIs[ai].WebSocket; w != nil {
				setDur(&w.IdleTimeout, DefaultTunnelIdle)
				setDur(&w.MaxLifetime, DefaultTunnelLifetime)
			}
		}
	}
}

// webSocket compiles an API's tunnel settings; nil when the API has none.
func (c *compiler) webSocket(key string, w *WebSocketConfig, group, api string, st StageID) *WebSocket {
	if w == nil {
		return nil
	}
	if w.IdleTimeout.D() < minTunnelTimeout {
		c.add(key+".idle_timeout", "must be at least 1s")
	}
	if w.MaxLifetime.D() < minTunnelTimeout {
		c.add(key+".max_lifetime", "must be at least 1s")
	}
	if w.MaxTunnels < 0 {
		c.add(key+".max_tunnels", "must not be negative")
	}
	labels := `{group=` + strconv.Quote(group) + `,api=` + strconv.Quote(api) + `,stage=` + strconv.Quote(st.String()) + `}`
	return &WebSocket{
		IdleTimeout: w.IdleTimeout.D(),
		MaxLifetime: w.MaxLifetime.D(),
		MaxTunnels:  int64(w.MaxTunnels),
		Opened:      metrics.GetOrCreateCounter(`sluice_tunnels_opened_total` + labels),
		Open:        metrics.GetOrCreateGauge(`sluice_tunnels_open`+labels, nil),
	}
}
