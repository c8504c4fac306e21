package main

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
)

// The acceptance criterion: a 1 GiB upload and a 1 GiB download pass through
// with the gateway's RSS growing by less than 64 MiB.
const (
	bigBody       = 1 << 30
	chunkedBody   = 64 << 20
	warmBody      = 8 << 20
	maxRSSGrowth  = 64 << 20
	uploadPeriod  = 65521 // prime, so the pattern never lines up with a buffer size
	transferLimit = 60 * time.Second
)

func bigBodyConfig(originAddr string) configFunc {
	return func(listen, admin string) string {
		return fmt.Sprintf(`[server]
listen = [%q]
admin_listen = %q
max_body_size = "2GiB"
read_timeout = "120s"
write_timeout = "120s"

[[backends]]
name = "origin"
targets = [{ url = "http://%s" }]

[[groups]]
name = "big"

[[groups.apis]]
name = "all"
path = "/{rest:*}"
backend = "origin"
timeout = "30s"
`, listen, admin, originAddr)
	}
}

// patternReader yields n bytes of a fixed pseudo-random block repeated,
// hashing what it hands out, so nothing of the body is ever held in memory.
type patternReader struct {
	block []byte
	off   int
	left  int64
	sum   hash.Hash
}

func newPatternReader(n int64) *patternReader {
	r := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, uploadPeriod)
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	return &patternReader{block: block, left: n, sum: md5.New()}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	p.sum.Write(b[:n])
	p.left -= int64(n)
	return n, nil
}

func (p *patternReader) md5() string { return hex.EncodeToString(p.sum.Sum(nil)) }

// onlyReader hides every method but Read, so net/http cannot learn the
// length and must send the body chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// fillerChecker verifies the origin's ?size= body as it streams by: the
// origin writes prefixes of "abc...zabc..." (each read of its filler starts
// again at 'a'), so every byte is either the successor of the one before it
// or a restart at 'a'. A lost, doubled or corrupted span breaks that. (A
// digest cannot be compared instead: where the restarts fall depends on how
// full the origin's write buffer was, so it differs from request to request.)
type fillerChecker struct {
	n    int64
	prev byte
	bad  int64 // offset of the first wrong byte, -1 if none
}

func (f *fillerChecker) Write(b []byte) (int, error) {
	for i, c := range b {
		ok := c == 'a' || (f.n+int64(i) > 0 && c == 'a'+(f.prev-'a'+1)%26)
		if !ok && f.bad < 0 {
			f.bad = f.n + int64(i)
		}
		f.prev = c
	}
	f.n += int64(len(b))
	return len(b), nil
}

type sinkAnswer struct {
	Bytes int64  `json:"bytes"`
	MD5   string `json:"md5"`
}

// upload POSTs n pattern bytes to /sink through the gateway; chunked hides
// the length. It checks the origin saw exactly the bytes sent.
func upload(t *testing.T, c *http.Client, base string, n int64, chunked bool) {
	t.Helper()
	pr := newPatternReader(n)
	var body io.Reader = pr
	if chunked {
		body = onlyReader{pr}
	}
	req, err := http.NewRequest(http.MethodPost, base+"/sink", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("upload of %d bytes (chunked %v): %v", n, chunked, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload of %d bytes (chunked %v): %d %s", n, chunked, resp.StatusCode, raw)
	}
	var got sinkAnswer
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("upload answer %q: %v", raw, err)
	}
	if got.Bytes != n || got.MD5 != pr.md5() {
		t.Fatalf("upload (chunked %v): origin got %d bytes md5 %s, sent %d md5 %s", chunked, got.Bytes, got.MD5, n, pr.md5())
	}
}

// download GETs ?size=n through the gateway and checks length and content
// on the fly.
func download(t *testing.T, c *http.Client, url string, n int64) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("download of %d bytes: %v", n, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != n {
		t.Fatalf("download of %d bytes: status %d, Content-Length %d", n, resp.StatusCode, resp.ContentLength)
	}
	fc := &fillerChecker{bad: -1}
	buf := make([]byte, 256<<10)
	got, err := io.CopyBuffer(fc, resp.Body, buf)
	if err != nil || got != n {
		t.Fatalf("download: read %d of %d bytes: %v", got, n, err)
	}
	if fc.bad >= 0 {
		t.Fatalf("download: wrong byte at offset %d", fc.bad)
	}
}

// memStatus reads VmRSS and VmHWM (bytes) of pid from /proc.
func memStatus(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("parse %s %q: %v", k, v, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }

func TestBigBodiesStreamWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through the gateway; skipped in -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the gateway's RSS")
	}
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	g := startGateway(t, bigBodyConfig(o.Addr()))
	pid := g.cmd.Process.Pid
	base := "http://" + g.listen
	c := &http.Client{Timeout: transferLimit, Transport: &http.Transport{
		MaxIdleConnsPerHost: 4, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10, DisableCompression: true,
	}}
	defer c.CloseIdleConnections()

	// Warm-up: the gateway's pools, buffers and heap reach their working size.
	for i := 0; i < 3; i++ {
		upload(t, c, base, warmBody, false)
		download(t, c, base+"/warm?size="+strconv.Itoa(warmBody), warmBody)
	}
	rss0, hwm0 := memStatus(t, pid)

	start := time.Now()
	upload(t, c, base, bigBody, false)
	upDur := time.Since(start)
	_, hwmUp := memStatus(t, pid)

	start = time.Now()
	download(t, c, base+"/big?size="+strconv.Itoa(bigBody), bigBody)
	downDur := time.Since(start)
	_, hwmDown := memStatus(t, pid)

	start = time.Now()
	upload(t, c, base, chunkedBody, true)
	chunkDur := time.Since(start)
	rss1, hwm1 := memStatus(t, pid)

	growth := hwm1 - rss0
	t.Logf("gateway pid %d: before (warmed) VmRSS %s VmHWM %s; after upload VmHWM %s, after download VmHWM %s; "+
		"after all VmRSS %s VmHWM %s; peak growth %s (limit %s)",
		pid, mib(rss0), mib(hwm0), mib(hwmUp), mib(hwmDown), mib(rss1), mib(hwm1), mib(growth), mib(maxRSSGrowth))
	t.Logf("1 GiB upload %v (%.0f MiB/s), 1 GiB download %v (%.0f MiB/s), 64 MiB chunked upload %v",
		upDur.Round(time.Millisecond), float64(bigBody>>20)/upDur.Seconds(),
		downDur.Round(time.Millisecond), float64(bigBody>>20)/downDur.Seconds(), chunkDur.Round(time.Millisecond))
	if growth >= maxRSSGrowth {
		t.Errorf("gateway RSS peak grew by %s over the warmed %s, limit %s", mib(growth), mib(rss0), mib(maxRSSGrowth))
	}
}

// TestFillerChecker proves the download check can fail.
func TestFillerChecker(t *testing.T) {
	good := []byte("abcdefghijklmnopqrstuvwxyzabcabcdefgaab")
	fc := &fillerChecker{bad: -1}
	_, _ = fc.Write(good[:7])
	_, _ = fc.Write(good[7:])
	if fc.bad != -1 || fc.n != int64(len(good)) {
		t.Fatalf("valid stream: bad %d n %d", fc.bad, fc.n)
	}
	for _, bad := range []string{"abdef", "bcd", "abcc", "abcXa", "azb"} {
		fc := &fillerChecker{bad: -1}
		_, _ = fc.Write([]byte(bad))
		if fc.bad < 0 {
			t.Errorf("%q passed the check", bad)
		}
	}
}
