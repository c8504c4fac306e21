package accesslog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
)

// maxBulkResponse bounds how much of an Elasticsearch _bulk response is
// read to find failed items (about 100 bytes per item).
const maxBulkResponse = 32 << 20

// httpSink POSTs each batch as NDJSON or Elasticsearch _bulk, optionally
// gzipped, retrying failures with capped exponential backoff and full
// jitter. Used only from its sink goroutine.
type httpSink struct {
	url        string
	bulk       bool
	action     []byte // bulk action line, with '\n'
	gzip       bool
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	headers    http.Header
	client     *http.Client

	body []byte       // bulk framing, reused
	zbuf bytes.Buffer // gzip output, reused
	zw   *gzip.Writer
	resp []byte // response body, reused
}

func newHTTPSink(c SinkConfig) *httpSink {
	s := &httpSink{
		url:        c.URL,
		bulk:       c.Format == "bulk",
		gzip:       c.Gzip,
		retries:    *c.MaxRetries,
		backoff:    time.Duration(c.RetryBackoff),
		maxBackoff: time.Duration(c.RetryMaxBackoff),
		timeout:    time.Duration(c.Timeout),
		headers:    http.Header{},
	}
	for k, v := range c.Headers {
		s.headers.Set(k, v)
	}
	if s.bulk {
		if c.Index == "" {
			s.action = []byte("{\"index\":{}}\n")
		} else {
			s.action = []byte(`{"index":{"_index":"` + string(appendEscapedString(nil, c.Index)) + "\"}}\n")
		}
	}
	if s.gzip {
		s.zw, _ = gzip.NewWriterLevel(&s.zbuf, gzip.BestSpeed)
	}
	s.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   s.timeout,
			ResponseHeaderTimeout: s.timeout,
			ForceAttemptHTTP2:     true,
		},
		// A redirect would resend the batch somewhere not configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

func (s *httpSink) close() { s.client.CloseIdleConnections() }

func (s *httpSink) write(ctx context.Context, b *batch, fail func(error)) int {
	body := b.buf
	if s.bulk {
		s.body = s.body[:0]
		for i := 0; i < b.n(); i++ {
			s.body = append(s.body, s.action...)
			s.body = append(s.body, b.line(i)...)
			s.body = append(s.body, '\n')
		}
		body = s.body
	}
	if s.gzip {
		s.zbuf.Reset()
		s.zw.Reset(&s.zbuf)
		s.zw.Write(body) // writes to a bytes.Buffer cannot fail
		s.zw.Close()
		body = s.zbuf.Bytes()
	}
	for attempt := 0; ; attempt++ {
		failed, retry, err := s.post(ctx, body, b.n())
		if err == nil {
			return b.n() - failed
		}
		fail(err)
		if !retry || attempt >= s.retries || ctx.Err() != nil {
			return 0
		}
		d := s.backoff << attempt
		if d > s.maxBackoff || d <= 0 {
			d = s.maxBackoff
		}
		// Full jitter in [d/2, d): senders that failed together spread out.
		d = d/2 + rand.N(d/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0
		case <-t.C:
		}
	}
}

// statusError is a non-2xx answer.
type statusError int

func (e statusError) Error() string { return "http sink: status " + strconv.Itoa(int(e)) }

// post sends one attempt. failed counts bulk items the server rejected in
// a 2xx answer (those are not retried: resending would duplicate the
// accepted ones).
func (s *httpSink) post(ctx context.Context, body []byte, n int) (failed int, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, true, err
	}
	defer resp.Body.Close()
	s.resp, err = readLimited(s.resp[:0], resp.Body, maxBulkResponse)
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return 0, true, statusError(c)
	default:
		return 0, false, statusError(c)
	}
	if !s.bulk {
		return 0, false, nil
	}
	if err != nil {
		// The batch was accepted; only the item report is unreadable.
		return 0, false, nil
	}
	failed, perr := bulkFailures(s.resp)
	if perr != nil || failed == 0 {
		return 0, false, nil
	}
	return min(failed, n), false, nil
}

func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	_, err := io.Copy(buf, io.LimitReader(r, int64(limit)))
	if err == nil {
		// Drain the rest so the connection can be reused.
		_, err = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	}
	return buf.Bytes(), err
}

// bulkFailures counts items with a non-2xx status in an Elasticsearch bulk
// response. Off the request path, so a reflection decoder is fine here.
func bulkFailures(body []byte) (int, error) {
	var r struct {
		Errors bool                              `json:"errors"`
		Items  []map[string]struct{ Status int } `json:"items"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, err
	}
	if !r.Errors {
		return 0, nil
	}
	n := 0
	for _, it := range r.Items {
		for _, op := range it {
			if op.Status < 200 || op.Status > 299 {
				n++
			}
		}
	}
	if n == 0 {
		return 0, errors.New("bulk: errors=true without failed items")
	}
	return n, nil
}
