package policy

import (
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// APIStats holds an API's per-stage counters. They are created when a
// snapshot is compiled (VictoriaMetrics' GetOrCreate looks up by name, which
// the request path must not do) and, being registered by name, are the same
// objects across reloads.
type APIStats struct {
	// Requests by status class: index 0 is 1xx (unused by a proxy in practice) through 4 = 5xx.
	Requests [5]*metrics.Counter
	// Total and Backend are request durations (gateway plus upstream, and
	// upstream alone), per group and API across stages to bound series.
	Total   *Histogram
	Backend *Histogram
	// Throttled counts 429s by the scope that denied: api, consumer, client_ip, quota.
	Throttled [5]*metrics.Counter

	authMu       sync.RWMutex
	authFailures map[string]*metrics.Counter
	authBase     string
}

// AuthFailure counts an authentication or authorization failure by reason
// (the error code). The counter is created on a reason's first use; after
// that the lookup takes a read lock and does not allocate.
func (st *APIStats) AuthFailure(code string) {
	st.authMu.RLock()
	c := st.authFailures[code]
	st.authMu.RUnlock()
	if c == nil {
		st.authMu.Lock()
		if c = st.authFailures[code]; c == nil {
			c = metrics.GetOrCreateCounter(st.authBase + strconv.Quote(code) + "}")
			st.authFailures[code] = c
		}
		st.authMu.Unlock()
	}
	c.Inc()
}

var classLabels = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func newAPIStats(group, api string, stage StageID) *APIStats {
	st := &APIStats{}
	base := `sluice_requests_total{group=` + strconv.Quote(group) + `,api=` + strconv.Quote(api) +
		`,stage="` + stage.String() + `",class="`
	for i, c := range classLabels {
		st.Requests[i] = metrics.GetOrCreateCounter(base + c + `"}`)
	}
	labels := `group=` + strconv.Quote(group) + `,api=` + strconv.Quote(api)
	st.Total = histogramFor("sluice_request_duration_seconds", labels)
	st.Backend = histogramFor("sluice_backend_duration_seconds", labels)
	for i, scope := range []string{"", "api", "consumer", "client_ip", "quota"} {
		if scope != "" {
			st.Throttled[i] = metrics.GetOrCreateCounter(`sluice_throttled_requests_total{` + labels + `,scope="` + scope + `"}`)
		}
	}
	st.authFailures = map[string]*metrics.Counter{}
	st.authBase = `sluice_auth_failures_total{` + labels + `,reason=`
	return st
}

// Count records one finished request with the given status.
func (st *APIStats) Count(status int) {
	i := status/100 - 1
	if i < 0 || i > 4 {
		i = 4
	}
	st.Requests[i].Inc()
}
