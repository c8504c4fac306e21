package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// skipUnlessRateTest skips a wall-clock rate test unless SLUICE_RATE_TEST=1,
// and always under the race detector. On the 2-core machine `make test`
// shares with other packages' tests, a rate assertion run in parallel with
// them measures the neighbours; `make test` runs these tests serially after
// the parallel pass, with SLUICE_RATE_TEST=1.
func skipUnlessRateTest(t *testing.T) {
	t.Helper()
	if loadgenRaceEnabled {
		t.Skip("wall-clock rate test: skipped under -race, which slows the generator several times over")
	}
	if os.Getenv("SLUICE_RATE_TEST") != "1" {
		t.Skip("wall-clock rate test: set SLUICE_RATE_TEST=1 (`make test` runs it serially after the parallel pass)")
	}
}

// rateAttempts bounds the retries of a wall-clock rate test. A loaded
// machine (other engineers' builds, a noisy VM neighbour) can starve the
// generator for a few hundred milliseconds and miss 2% on one attempt; a
// generator that cannot hold the rate misses on every attempt.
const rateAttempts = 3

// retryRate runs attempt up to rateAttempts times until it reports no
// problem, logging each attempt's figures, and fails with the last problems.
func retryRate(t *testing.T, attempt func() (figures string, problems []string)) {
	t.Helper()
	var problems []string
	for i := 1; i <= rateAttempts; i++ {
		var figures string
		cpu0, wall0 := processCPU(), time.Now()
		figures, problems = attempt()
		// The CPU this process got per wall second says whether a miss is
		// the generator's or the machine's (it needs about one core at 30 000 req/s).
		cores := processCPU().Seconds() - cpu0.Seconds()
		t.Logf("attempt %d: %s (this process got %.2f cores; load average %s)", i, figures,
			cores/time.Since(wall0).Seconds(), loadAverage())
		if len(problems) == 0 {
			return
		}
		t.Logf("attempt %d missed: %v", i, problems)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// loadAverage is /proc/loadavg's first three fields, for the log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// TestOpenLoopHoldsRate offers 2000 req/s for 2 s to a fast origin and
// checks, on counts, that the achieved send rate is within 2%: both the
// generator's own count and the origin's arrival timestamps.
func TestOpenLoopHoldsRate(t *testing.T) {
	skipUnlessRateTest(t)
	retryRate(t, func() (string, []string) {
		o := startTestOrigin(t, 10000)
		defer o.close()
		const rate, dur = 2000.0, 2 * time.Second
		res, err := RunLoad(context.Background(), LoadConfig{
			Addr: o.Addr(), Paths: []string{"/x?size=64"}, Mode: OpenLoop, Rate: rate, Duration: dur, Connections: 64,
		})
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		want := rate * dur.Seconds()
		if math.Abs(float64(res.Sent)-want) > 0.02*want {
			problems = append(problems, fmt.Sprintf("sent %d requests, want %.0f ± 2%%", res.Sent, want))
		}
		if res.Completed != res.Sent || res.Errors != 0 {
			problems = append(problems, fmt.Sprintf("completed %d of %d, errors %d %v", res.Completed, res.Sent, res.Errors, res.ErrorKinds))
		}
		if got := o.Requests(); got != res.Sent {
			problems = append(problems, fmt.Sprintf("origin saw %d requests, generator sent %d", got, res.Sent))
		}
		// Achieved rate from the origin's side, per 100 ms bucket: the median
		// bucket must hold 200 ± 2%. A scheduler stall on this shared machine
		// empties one bucket and overfills the next (the schedule catches up),
		// which the median ignores; a generator that drifts off rate does not
		// escape it.
		arr := o.recorded()
		sort.Slice(arr, func(i, j int) bool { return arr[i] < arr[j] })
		const bucket = int64(100 * time.Millisecond)
		counts := make([]float64, 20)
		for _, a := range arr {
			if i := (a - arr[0]) / bucket; i < int64(len(counts)) {
				counts[i]++
			}
		}
		perBucket := rate * 0.1
		if m := median(counts); math.Abs(m-perBucket) > 0.02*perBucket {
			problems = append(problems, fmt.Sprintf("median arrivals per 100ms %v, want %.0f ± 2%% (buckets %v)", m, perBucket, counts))
		}
		if res.OfferedRate != rate || res.Mode != "open" {
			problems = append(problems, fmt.Sprintf("offered %v mode %s", res.OfferedRate, res.Mode))
		}
		return fmt.Sprintf("send rate %.1f/s, sent %d, completed %d, buckets %v", res.SendRate, res.Sent, res.Completed, counts), problems
	})
}

// TestOpenLoopHolds30k is issue 16's acceptance test of the generator: it
// offers 30 000 req/s for 1.5 s (after a 300 ms warmup) to a fast loopback
// origin and checks that the achieved send rate and the completed rate are
// both within 2% of it, with no errors.
func TestOpenLoopHolds30k(t *testing.T) {
	skipUnlessRateTest(t)
	retryRate(t, func() (string, []string) {
		o := startTestOrigin(t, 0)
		defer o.close()
		const rate, dur = 30000.0, 1500 * time.Millisecond
		res, err := RunLoad(context.Background(), LoadConfig{
			Addr: o.Addr(), Paths: []string{"/x?size=64"}, Mode: OpenLoop, Rate: rate,
			Warmup: 300 * time.Millisecond, Duration: dur, Connections: 256, Timeout: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		// The completed rate runs to the last answer: answers that trail
		// the schedule lower it.
		completedRate := res.Throughput
		var problems []string
		if math.Abs(res.SendRate-rate) > 0.02*rate {
			problems = append(problems, fmt.Sprintf("achieved send rate %.0f/s, want %.0f ± 2%%", res.SendRate, rate))
		}
		if math.Abs(completedRate-rate) > 0.02*rate {
			problems = append(problems, fmt.Sprintf("completed rate %.0f/s (%d in %v), want %.0f ± 2%%", completedRate, res.Completed, res.Elapsed, rate))
		}
		if res.Errors != 0 {
			problems = append(problems, fmt.Sprintf("errors %d %v", res.Errors, res.ErrorKinds))
		}
		return fmt.Sprintf("offered %.0f/s: achieved send rate %.0f/s, completed rate %.0f/s, max send lag %v, p50 %v, p99 %v",
			rate, res.SendRate, completedRate, res.MaxSendLag, res.Latency.P50, res.Latency.P99), problems
	})
}

// TestOpenLoopChargesStalls checks coordinated-omission correction: with one
// connection and a 50 ms response time, a 100 req/s schedule falls behind,
// and latency measured from the intended send time must grow well past
// the 50 ms service time.
func TestOpenLoopChargesStalls(t *testing.T) {
	ln := startDelayServer(t, 50*time.Millisecond)
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: ln, Mode: OpenLoop, Rate: 100, Duration: time.Second, Connections: 1, Timeout: 400 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Request k is intended at 10k ms and sent at about 50k ms: the lag
	// reaches the 400 ms timeout by k = 10, after which stale requests are
	// dropped as unsent, each charged its wait.
	if res.Latency.Max < 300*time.Millisecond {
		t.Errorf("max latency %v: queueing behind a stalled connection not charged", res.Latency.Max)
	}
	if res.MaxSendLag < 300*time.Millisecond {
		t.Errorf("max send lag %v, want the schedule to have slipped", res.MaxSendLag)
	}
	if res.ErrorKinds["unsent"] == 0 || res.Sent != 101 && res.Sent != 100 {
		t.Errorf("sent %d, error kinds %v: want the whole schedule accounted, some unsent", res.Sent, res.ErrorKinds)
	}
	// Closed loop on the same server measures service time only.
	cl, err := RunLoad(context.Background(), LoadConfig{Addr: ln, Duration: 300 * time.Millisecond, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Latency.P50 > 200*time.Millisecond || cl.Latency.P50 < 50*time.Millisecond {
		t.Errorf("closed-loop p50 %v, want about 50ms", cl.Latency.P50)
	}
}

func startDelayServer(t *testing.T, d time.Duration) string {
	o := startTestOrigin(t, 0)
	o.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		time.Sleep(d)
		ctx.SetBodyString("ok")
	}
	return o.Addr()
}

func TestClosedLoopCountsAndCap(t *testing.T) {
	o := startTestOrigin(t, 0)
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Paths: []string{"/a?size=100", "/b?size=100&status=503"}, Duration: 10 * time.Second,
		Connections: 8, MaxRequests: 1000, ExpectBodyBytes: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1000 || res.Completed != 1000 {
		t.Fatalf("sent %d completed %d, want the 1000 cap", res.Sent, res.Completed)
	}
	if res.Status["200"] != 500 || res.Status["503"] != 500 {
		t.Errorf("status counts %v, want 500 each (paths alternate)", res.Status)
	}
	if res.Errors != 500 || res.ErrorKinds["status"] != 500 {
		t.Errorf("errors %d %v, want 500 of kind status", res.Errors, res.ErrorKinds)
	}
	if res.Latency.Count != 1000 || res.Throughput <= 0 || res.Elapsed <= 0 {
		t.Errorf("latency count %d throughput %v elapsed %v", res.Latency.Count, res.Throughput, res.Elapsed)
	}
}

func TestLoadWarmupNotCounted(t *testing.T) {
	o := startTestOrigin(t, 0)
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Mode: OpenLoop, Rate: 1000, Warmup: 300 * time.Millisecond, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 190 || res.Sent > 210 {
		t.Errorf("measured %d requests, want about 200", res.Sent)
	}
	if o.Requests() < 490 {
		t.Errorf("origin saw %d, want warmup and measured ~500", o.Requests())
	}
}

func TestLoadBodyMismatchAndRefused(t *testing.T) {
	o := startTestOrigin(t, 0)
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Paths: []string{"/?size=10"}, Duration: 5 * time.Second, MaxRequests: 50, ExpectBodyBytes: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorKinds["body"] != 50 {
		t.Errorf("error kinds %v, want 50 body mismatches", res.ErrorKinds)
	}
	res, err = RunLoad(context.Background(), LoadConfig{
		Addr: closedPort(t), Duration: 5 * time.Second, MaxRequests: 20, Connections: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 20 || res.ErrorKinds["refused"] != 20 || res.Completed != 0 {
		t.Errorf("errors %d kinds %v completed %d, want 20 refused", res.Errors, res.ErrorKinds, res.Completed)
	}
}

func TestLoadSignerHook(t *testing.T) {
	o := startTestOrigin(t, 0)
	var calls atomic.Uint64
	var seqSum atomic.Uint64
	var badSig = errors.New("no key")
	sign := func(req *fasthttp.Request, seq uint64) error {
		calls.Add(1)
		seqSum.Add(seq)
		if seq%10 == 9 {
			return badSig
		}
		req.Header.Set("Authorization", "Bench "+itoa(int(seq)))
		return nil
	}
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Duration: 5 * time.Second, MaxRequests: 100, Connections: 4, Sign: sign,
		Headers: []Header{{Name: "X-Bench", Value: "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 100 || seqSum.Load() != 99*100/2 {
		t.Errorf("signer called %d times, seq sum %d: want each seq 0..99 once", calls.Load(), seqSum.Load())
	}
	if res.ErrorKinds["sign"] != 10 || res.Completed != 90 || o.Requests() != 90 {
		t.Errorf("sign errors %v completed %d origin %d, want 10 / 90 / 90", res.ErrorKinds, res.Completed, o.Requests())
	}
}

func TestLoadCancel(t *testing.T) {
	o := startTestOrigin(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := RunLoad(ctx, LoadConfig{Addr: o.Addr(), Mode: OpenLoop, Rate: 10, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Bounded by the context, not the minute; generous for a loaded machine.
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("cancelled run took %v", el)
	}
}

func TestLoadConfigValidation(t *testing.T) {
	addr := "127.0.0.1:9"
	bad := []LoadConfig{
		{Addr: addr},
		{Addr: addr, Duration: 11 * time.Minute},
		{Addr: addr, Duration: time.Second, Mode: OpenLoop},
		{Addr: addr, Duration: time.Second, Mode: OpenLoop, Rate: 1e9},
		{Addr: addr, Duration: time.Second, Connections: -1},
		{Addr: addr, Duration: time.Second, Connections: maxConnections + 1},
		{Addr: addr, Duration: time.Second, Paths: []string{"x"}},
		{Addr: addr, Duration: time.Second, Warmup: -1},
		{Addr: addr, Duration: time.Second, Timeout: -1},
		{Addr: addr, Duration: time.Second, Mode: LoadMode(7)},
	}
	for i, c := range bad {
		if _, err := RunLoad(context.Background(), c); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
}

func TestClassifyError(t *testing.T) {
	cases := map[error]string{
		fasthttp.ErrTimeout:          "timeout",
		fasthttp.ErrConnectionClosed: "closed",
		errors.New("weird"):          "other",
	}
	for err, want := range cases {
		if got := errKindNames[classifyError(err)]; got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}

// TestLoadRequestMix checks LoadConfig.Requests: each spec's method, URI,
// headers and body go out as given, in proportion to their place in the list,
// and a spec's own headers do not leak into the next one.
func TestLoadRequestMix(t *testing.T) {
	o := startTestOrigin(t, 0)
	var mu sync.Mutex
	seen := map[string]int{}
	o.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		k := string(ctx.Method()) + " " + string(ctx.RequestURI()) + " key=" + string(ctx.Request.Header.Peek("X-Key")) + " body=" + string(ctx.PostBody())
		mu.Lock()
		seen[k]++
		mu.Unlock()
		if string(ctx.Path()) == "/teapot" {
			ctx.SetStatusCode(418)
		}
	}
	body := []byte(`{"a":1}`)
	res, err := RunLoad(context.Background(), LoadConfig{
		Addr: o.Addr(), Duration: 5 * time.Second, MaxRequests: 400, Connections: 4,
		Requests: []RequestSpec{
			{URI: "/a?x=1", Headers: []Header{{Name: "X-Key", Value: "k1"}}},
			{Method: "POST", URI: "/b", Body: body},
			{URI: "/a?x=1", Headers: []Header{{Name: "X-Key", Value: "k1"}}},
			{URI: "/teapot", ExpectStatus: -1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"GET /a?x=1 key=k1 body=":   200,
		`POST /b key= body={"a":1}`: 100,
		"GET /teapot key= body=":    100,
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Errorf("origin saw %v, want %v", seen, want)
	}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("origin saw %q %d times, want %d (all: %v)", k, seen[k], n, seen)
		}
	}
	if res.Errors != 0 || res.Status["418"] != 100 {
		t.Errorf("errors %d status %v: a spec expecting any status counts 418 as success", res.Errors, res.Status)
	}
	if _, err := RunLoad(context.Background(), LoadConfig{Addr: o.Addr(), Duration: time.Second, Requests: []RequestSpec{{URI: "x"}}}); err == nil {
		t.Error("a spec URI without a leading / was accepted")
	}
}
