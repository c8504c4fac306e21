package policy

import (
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Histogram is a Prometheus histogram with fixed buckets (le labels), so
// stock Prometheus and Grafana can take quantiles with histogram_quantile;
// VictoriaMetrics' own histograms use vmrange buckets only its own query
// language understands. Observe is lock-free and allocation-free.
type Histogram struct {
	name   string // family name, e.g. sluice_request_duration_seconds
	labels string // `group="g",api="a"`
	counts [len(histBounds) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

// histBounds are the bucket upper bounds in seconds: 0.5 ms to 30 s, the
// gateway's own cost through the longest API timeout.
var histBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

var histBoundNs = func() (ns [len(histBounds)]int64) {
	for i, b := range histBounds {
		ns[i] = int64(b * 1e9)
	}
	return
}()

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(histBoundNs) && int64(d) > histBoundNs[i] {
		i++
	}
	h.counts[i].Add(1)
	if d > 0 {
		h.sumNs.Add(uint64(d))
	}
}

var histograms = struct {
	sync.Mutex
	byKey map[string]*Histogram
}{byKey: map[string]*Histogram{}}

func init() { metrics.RegisterMetricsWriter(writeHistograms) }

// histogramFor returns the histogram for name{labels}, the same object across
// reloads.
func histogramFor(name, labels string) *Histogram {
	key := name + "{" + labels + "}"
	histograms.Lock()
	defer histograms.Unlock()
	if h, ok := histograms.byKey[key]; ok {
		return h
	}
	h := &Histogram{name: name, labels: labels}
	histograms.byKey[key] = h
	return h
}

// writeHistograms renders every histogram in the text exposition format.
func writeHistograms(w io.Writer) {
	histograms.Lock()
	keys := make([]string, 0, len(histograms.byKey))
	for k := range histograms.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hs := make([]*Histogram, len(keys))
	for i, k := range keys {
		hs[i] = histograms.byKey[k]
	}
	histograms.Unlock()
	var b []byte
	lastFamily := ""
	for _, h := range hs {
		if h.name != lastFamily {
			b = append(b, "# TYPE "+h.name+" histogram\n"...)
			lastFamily = h.name
		}
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			le := "+Inf"
			if i < len(histBounds) {
				le = strconv.FormatFloat(histBounds[i], 'g', -1, 64)
			}
			b = append(b, h.name+"_bucket{"+h.labels+`,le="`+le+`"} `...)
			b = strconv.AppendUint(b, cum, 10)
			b = append(b, '\n')
		}
		b = append(b, h.name+"_sum{"+h.labels+"} "...)
		b = strconv.AppendFloat(b, float64(h.sumNs.Load())/1e9, 'g', -1, 64)
		b = append(b, '\n')
		b = append(b, h.name+"_count{"+h.labels+"} "...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
		if len(b) > 64<<10 {
			_, _ = w.Write(b)
			b = b[:0]
		}
	}
	_, _ = w.Write(b)
}
