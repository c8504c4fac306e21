package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// This file derives a traffic mix from an access log (`sluice-bench plan`):
// what the operator's clients send, per API, and the kinds of request a
// replay cycles through in proportion to their share.

// APIRef names an API as the access log does. The zero value stands for
// requests that matched no API (404 before routing, 400 bad stage...).
type APIRef struct {
	Group string `json:"group"`
	Stage string `json:"stage,omitempty"`
	API   string `json:"api"`
}

func (a APIRef) String() string {
	if a.API == "" {
		return "(no API)"
	}
	s := a.Group + "/" + a.API
	if a.Stage != "" {
		s += "@" + a.Stage
	}
	return s
}

// apiOnly drops the stage: shares are compared per API over all stages.
func (a APIRef) apiOnly() APIRef { return APIRef{Group: a.Group, API: a.API} }

// mixKindKey identifies a kind of request: everything that changes what the
// gateway does with it. Sizes, paths and latencies vary inside a kind and
// are replayed from the kind's sampled records.
type mixKindKey struct {
	Ref      APIRef
	Method   string
	Consumer string
	Auth     string
	Status   int
}

// mixSample is what a replay needs of one logged request.
type mixSample struct {
	Host, Path, Query string
	ClientIP          string
	UserAgent         string
	BytesIn, BytesOut int64
	BackendUS         int64
	Status            int
	// ReachedBackend: the record names an upstream or backend time, so
	// the origin's answer waits BackendUS.
	ReachedBackend bool
}

// mixKind is one kind with a bounded, evenly drawn sample of its records.
type mixKind struct {
	key     mixKindKey
	count   int
	samples []mixSample
}

// Dist summarises a distribution of sizes or latencies.
type Dist struct {
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	Max  int64   `json:"max"`
}

func (d Dist) String() string {
	return fmt.Sprintf("p50 %d, p90 %d, p99 %d, max %d", d.P50, d.P90, d.P99, d.Max)
}

// distOf summarises vals (sorted in place).
func distOf(vals []int64) Dist {
	if len(vals) == 0 {
		return Dist{}
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	var sum float64
	for _, v := range vals {
		sum += float64(v)
	}
	q := func(p float64) int64 { return vals[min(len(vals)-1, int(math.Ceil(p*float64(len(vals))))-1)] }
	return Dist{Mean: sum / float64(len(vals)), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: vals[len(vals)-1]}
}

// Share is a name's count and fraction of its whole.
type Share struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Share float64 `json:"share"`
}

// APIMix is one API's part of the traffic (all stages together; Stages
// splits it).
type APIMix struct {
	Ref       APIRef  `json:"ref"`
	Count     int     `json:"count"`
	Share     float64 `json:"share"`
	Stages    []Share `json:"stages"`
	Methods   []Share `json:"methods"`
	Statuses  []Share `json:"statuses"`
	Consumers []Share `json:"consumers"`
	// BytesIn and BytesOut are request and answer body sizes; BackendUS the
	// upstream's time per request (requests that reached one), GatewayUS
	// the gateway's own.
	BytesIn   Dist `json:"bytes_in"`
	BytesOut  Dist `json:"bytes_out"`
	BackendUS Dist `json:"backend_us"`
	GatewayUS Dist `json:"gateway_us"`
}

// TrafficMix is the traffic an access log describes.
type TrafficMix struct {
	Source  string    `json:"source"`
	Records int       `json:"records"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	// LoggedRate is Records over the log's time span (0 for a span under 1s).
	LoggedRate float64 `json:"logged_rps"`
	// Tunnels counts WebSocket tunnel records (status 101, logged when the
	// tunnel closes). They are not in Records or any share: the load
	// generator opens no tunnels, and a tunnel's handshake replayed as a
	// plain GET would be forwarded as one and answered 101 with a body,
	// which no HTTP client reads as an answer.
	Tunnels int `json:"websocket_tunnels"`
	// Folded counts records replayed as another consumer's: once there are
	// maxMixKinds kinds, a record of a new consumer joins the first kind of
	// its API, stage, method, auth outcome and status. A replay list
	// carries at most -mix-size consumers anyway; the API shares stay exact.
	Folded    int        `json:"folded_records"`
	APIs      []APIMix   `json:"apis"`
	Consumers []Share    `json:"consumers"`
	Statuses  []Share    `json:"statuses"`
	kinds     []*mixKind // in order of first appearance
}

// Sample bounds: enough records per kind to replay its size and latency
// spread, per API to state percentiles; a log of millions of lines stays
// a few MiB in memory.
const (
	samplesPerKind = 256
	samplesPerAPI  = 4096
	maxMixKinds    = 10000
)

// mixBuilder folds records into a TrafficMix.
type mixBuilder struct {
	mix       TrafficMix
	kinds     map[mixKindKey]*mixKind
	byShape   map[mixKindKey]*mixKind // the first kind of each key without its consumer
	apis      map[APIRef]*apiAcc
	consumers map[string]int
	statuses  map[string]int
	rng       *rand.Rand
}

type apiAcc struct {
	count                      int
	stages, methods, statuses  map[string]int
	consumers                  map[string]int
	in, out, backend, gw       []int64
	seen                       int // records offered to the reservoir
	backendSeen, backendSample int
}

func newMixBuilder(source string) *mixBuilder {
	return &mixBuilder{
		mix:   TrafficMix{Source: source},
		kinds: map[mixKindKey]*mixKind{}, byShape: map[mixKindKey]*mixKind{}, apis: map[APIRef]*apiAcc{},
		consumers: map[string]int{}, statuses: map[string]int{},
		// A fixed seed: the same log always gives the same plan.
		rng: rand.New(rand.NewPCG(16, 5)),
	}
}

// add folds one record in.
func (b *mixBuilder) add(r *LogRecord) error {
	m := &b.mix
	if m.Records == 0 || r.Time.Before(m.First) {
		m.First = r.Time
	}
	if r.Time.After(m.Last) {
		m.Last = r.Time
	}
	if r.Status == 101 {
		m.Tunnels++
		return nil
	}
	m.Records++
	ref := APIRef{Group: r.Group, Stage: r.Stage, API: r.API}
	key := mixKindKey{Ref: ref, Method: r.Method, Consumer: r.Consumer, Auth: r.Auth, Status: r.Status}
	shape := key
	shape.Consumer = ""
	k := b.kinds[key]
	switch {
	case k != nil:
	case len(b.kinds) < maxMixKinds:
		k = &mixKind{key: key}
		b.kinds[key] = k
		m.kinds = append(m.kinds, k)
		if b.byShape[shape] == nil {
			b.byShape[shape] = k
		}
	default:
		// Many consumers (an API-key SaaS has tens of thousands) must not
		// make a log unplannable: the new consumer's record is replayed as
		// an earlier consumer's of the same shape.
		if k = b.byShape[shape]; k == nil {
			return fmt.Errorf("more than %d kinds of request (API, stage, method, auth, status), even with consumers folded together: too varied to replay", maxMixKinds)
		}
		m.Folded++
	}
	k.count++
	s := mixSample{
		Host: r.Host, Path: r.Path, Query: r.Query, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
		BytesIn: r.BytesIn, BytesOut: r.BytesOut,
		BackendUS: r.BackendUS, Status: r.Status, ReachedBackend: r.Upstream != "" || r.BackendUS > 0,
	}
	// Reservoir sampling (Algorithm R): every record of the kind has the same
	// chance to be replayed, whatever the log's length.
	if len(k.samples) < samplesPerKind {
		k.samples = append(k.samples, s)
	} else if j := b.rng.IntN(k.count); j < samplesPerKind {
		k.samples[j] = s
	}

	a := b.apis[ref.apiOnly()]
	if a == nil {
		a = &apiAcc{stages: map[string]int{}, methods: map[string]int{}, statuses: map[string]int{}, consumers: map[string]int{}}
		b.apis[ref.apiOnly()] = a
	}
	a.count++
	a.stages[r.Stage]++
	a.methods[r.Method]++
	a.statuses[fmt.Sprint(r.Status)]++
	a.consumers[r.Consumer]++
	a.seen++
	if len(a.in) < samplesPerAPI {
		a.in, a.out, a.gw = append(a.in, r.BytesIn), append(a.out, r.BytesOut), append(a.gw, r.GatewayUS)
	} else if j := b.rng.IntN(a.seen); j < samplesPerAPI {
		a.in[j], a.out[j], a.gw[j] = r.BytesIn, r.BytesOut, r.GatewayUS
	}
	if s.ReachedBackend {
		a.backendSeen++
		if len(a.backend) < samplesPerAPI {
			a.backend = append(a.backend, r.BackendUS)
		} else if j := b.rng.IntN(a.backendSeen); j < samplesPerAPI {
			a.backend[j] = r.BackendUS
		}
	}
	b.consumers[r.Consumer]++
	b.statuses[fmt.Sprint(r.Status)]++
	return nil
}

// shares turns counts into Shares, largest first, ties by name.
func shares(counts map[string]int, total int) []Share {
	out := make([]Share, 0, len(counts))
	for n, c := range counts {
		out = append(out, Share{Name: n, Count: c, Share: float64(c) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// finish computes the summaries.
func (b *mixBuilder) finish() *TrafficMix {
	m := &b.mix
	if span := m.Last.Sub(m.First); span >= time.Second {
		m.LoggedRate = float64(m.Records) / span.Seconds()
	}
	for ref, a := range b.apis {
		m.APIs = append(m.APIs, APIMix{
			Ref: ref, Count: a.count, Share: float64(a.count) / float64(m.Records),
			Stages: shares(a.stages, a.count), Methods: shares(a.methods, a.count),
			Statuses: shares(a.statuses, a.count), Consumers: shares(a.consumers, a.count),
			BytesIn: distOf(a.in), BytesOut: distOf(a.out), BackendUS: distOf(a.backend), GatewayUS: distOf(a.gw),
		})
	}
	sort.Slice(m.APIs, func(i, j int) bool {
		if m.APIs[i].Count != m.APIs[j].Count {
			return m.APIs[i].Count > m.APIs[j].Count
		}
		return m.APIs[i].Ref.String() < m.APIs[j].Ref.String()
	})
	m.Consumers = shares(b.consumers, m.Records)
	m.Statuses = shares(b.statuses, m.Records)
	return m
}

// DeriveMix reads an access log file and derives its traffic mix. check, if
// not nil, vets every record (plan uses it to refuse APIs the config lacks)
// and its error names the record's line.
func DeriveMix(path string, check func(*LogRecord) error) (*TrafficMix, error) {
	b := newMixBuilder(path)
	_, err := ReadAccessLogFile(path, func(_ int, r *LogRecord) error {
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		return b.add(r)
	})
	if err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// APIShares returns each API's share of the mix (stages together).
func (m *TrafficMix) APIShares() map[APIRef]float64 {
	out := make(map[APIRef]float64, len(m.APIs))
	for _, a := range m.APIs {
		out[a.Ref] = a.Share
	}
	return out
}

// apportion splits n slots among counts by the largest-remainder method:
// each gets floor(n*share) and the slots left go to the largest remainders
// (ties to the earlier index), so the slots sum to n exactly and each share
// is off by less than one slot.
func apportion(counts []int, n int) []int {
	total := 0
	for _, c := range counts {
		total += c
	}
	out := make([]int, len(counts))
	if total == 0 || n <= 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(counts))
	used := 0
	for i, c := range counts {
		exact := float64(c) * float64(n) / float64(total)
		out[i] = int(math.Floor(exact))
		used += out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for j := 0; used < n; j++ {
		out[rems[j%len(rems)].i]++
		used++
	}
	return out
}

// interleave returns a sequence in which index i appears weights[i] times,
// spread as evenly as it can be: smooth weighted round-robin (each step
// every index gains its weight, the largest total is picked and pays back
// the sum; ties go to the lower index). Deterministic, so a replay's list is
// the same on every run, and any window of the sequence is close to the mix.
func interleave(weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	cur := make([]int, len(weights))
	seq := make([]int, 0, total)
	for range total {
		best := -1
		for i, w := range weights {
			if w == 0 {
				continue
			}
			cur[i] += w
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, best)
	}
	return seq
}

// replaySlot is one entry of a replay list: a kind and one of its samples.
type replaySlot struct {
	kind   *mixKind
	sample *mixSample
}

// replaySlots lays out n requests: each kind gets its share of the n slots
// (apportion), the kinds are interleaved smoothly, and the k-th slot of a
// kind takes that kind's samples in turn. Kinds too rare for one slot of n
// are left out; dropped returns how many of the log's records they stand for.
func (m *TrafficMix) replaySlots(n int) (slots []replaySlot, dropped int) {
	counts := make([]int, len(m.kinds))
	for i, k := range m.kinds {
		counts[i] = k.count
	}
	per := apportion(counts, n)
	for i, k := range m.kinds {
		if per[i] == 0 {
			dropped += k.count
		}
	}
	next := make([]int, len(m.kinds))
	for _, i := range interleave(per) {
		k := m.kinds[i]
		// Spread the slots over the whole sample, not its first few entries.
		j := next[i] * len(k.samples) / per[i]
		next[i]++
		slots = append(slots, replaySlot{kind: k, sample: &k.samples[j%len(k.samples)]})
	}
	return slots, dropped
}

// dropMasked removes query parameters whose value the log masked ("***"):
// replaying the mask would fail validation that the real value passed, and
// credentials carried in the query are replaced by generated ones anyway.
func dropMasked(q string) string {
	if !strings.Contains(q, "***") {
		return q
	}
	var kept []string
	for _, kv := range strings.Split(q, "&") {
		if _, v, _ := strings.Cut(kv, "="); v == "***" {
			continue
		}
		kept = append(kept, kv)
	}
	return strings.Join(kept, "&")
}
