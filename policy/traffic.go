package policy

import (
	"math"
	"strconv"

	"github.com/sluicegw/sluice/policy/cors"
	"github.com/sluicegw/sluice/policy/ipacl"
	"github.com/sluicegw/sluice/store/ratelimit"
)

// Throttle is an API's compiled rate limits. The limits are stateless
// descriptions; the buckets live in the data plane's store, keyed by the
// API's ID and the consumer or client IP, so they survive reloads.
type Throttle struct {
	API       *ratelimit.Limit
	Consumer  *ratelimit.Limit
	ClientIP  *ratelimit.Limit
	Quotas    []*ratelimit.Limit // per consumer: minute, hour, day as configured
	Overrides []Override
	Headers   bool
	// ShareStages keys the buckets by API alone instead of API and stage.
	ShareStages bool
}

// Override is one consumer's own consumer limit.
type Override struct {
	Consumer string
	Limit    *ratelimit.Limit
}

// ConsumerLimit is the consumer bucket for name: its override or the default.
func (t *Throttle) ConsumerLimit(name []byte) *ratelimit.Limit {
	for i := range t.Overrides {
		if t.Overrides[i].Consumer == string(name) {
			return t.Overrides[i].Limit
		}
	}
	return t.Consumer
}

func (c *compiler) ipAccess(key string, cfg *ipacl.Config) *ipacl.ACL {
	if cfg == nil {
		return nil
	}
	acl, err := ipacl.Compile(*cfg)
	if err != nil {
		c.add(key, err.Error())
	}
	return acl
}

func (c *compiler) cors(key string, cfg *cors.Config) *cors.Policy {
	if cfg == nil {
		return nil
	}
	p, err := cors.Compile(*cfg)
	if err != nil {
		c.add(key, err.Error())
		return nil
	}
	return p
}

func (c *compiler) rate(key string, rc *RateConfig) *ratelimit.Limit {
	if rc == nil {
		return nil
	}
	burst := rc.Burst
	if burst == 0 {
		burst = int64(math.Max(1, math.Ceil(rc.Rate)))
	}
	l, err := ratelimit.NewLimit(rc.Rate, burst)
	if err != nil {
		c.add(key, err.Error())
	}
	return l
}

func (c *compiler) throttle(key string, cfg *RateLimitConfig) *Throttle {
	if cfg == nil {
		return nil
	}
	t := &Throttle{Headers: cfg.Headers == nil || *cfg.Headers, ShareStages: cfg.ShareStages}
	t.API = c.rate(key+".api", cfg.API)
	t.Consumer = c.rate(key+".consumer", cfg.Consumer)
	t.ClientIP = c.rate(key+".client_ip", cfg.ClientIP)
	if q := cfg.Quota; q != nil {
		for _, p := range []struct {
			n      int64
			period ratelimit.Period
			name   string
		}{{q.PerMinute, ratelimit.PeriodMinute, "per_minute"}, {q.PerHour, ratelimit.PeriodHour, "per_hour"}, {q.PerDay, ratelimit.PeriodDay, "per_day"}} {
			if p.n == 0 {
				continue
			}
			l, err := ratelimit.NewQuota(p.period, p.n)
			if err != nil {
				c.add(key+".quota."+p.name, err.Error())
				continue
			}
			t.Quotas = append(t.Quotas, l)
		}
	}
	for i, o := range cfg.Overrides {
		ok := key + ".overrides[" + strconv.Itoa(i) + "]"
		if o.Consumer == "" {
			c.add(ok+".consumer", "consumer is required")
			continue
		}
		l := c.rate(ok, &RateConfig{Rate: o.Rate, Burst: o.Burst})
		t.Overrides = append(t.Overrides, Override{Consumer: o.Consumer, Limit: l})
	}
	if t.API == nil && t.Consumer == nil && t.ClientIP == nil && len(t.Quotas) == 0 && len(t.Overrides) == 0 {
		c.add(key, "rate_limit sets no limit: add api, consumer, client_ip, quota or overrides")
	}
	if 3+len(t.Quotas) > ratelimit.MaxRequests {
		c.add(key, "too many limits on one API")
	}
	return t
}
