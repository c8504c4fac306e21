package policy

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// APIStats holds an API's per-stage counters. They are created when a
// snapshot is compiled (VictoriaMetrics' GetOrCreate looks up by name, which
// the request path must not do) and, being registered by name, are the same
// objects across reloads.
type APIStats struct {
	// Requests by status class: index 0 is 1xx (unused by a proxy in practice) through 4 = 5xx.
	Requests [5]*metrics.Counter
}

var classLabels = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func newAPIStats(group, api string, stage StageID) *APIStats {
	st := &APIStats{}
	base := `sluice_requests_total{group=` + strconv.Quote(group) + `,api=` + strconv.Quote(api) +
		`,stage="` + stage.String() + `",class="`
	for i, c := range classLabels {
		st.Requests[i] = metrics.GetOrCreateCounter(base + c + `"}`)
	}
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
