package bench

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/bench/origin"
	"github.com/sluicegw/sluice/policy/casign"
	"github.com/valyala/fasthttp"
)

// This file turns a traffic mix into the whole requests a replay sends
// (LoadConfig.Requests) and the Sign hook for HMAC consumers.

// maxReplayBody bounds a replayed request body; a larger logged upload is
// replayed at this size (and the report says so).
const maxReplayBody = 16 << 20

// replayList is a replay's requests and what the report needs about them.
type replayList struct {
	Specs []RequestSpec
	// hmac[i] is the app key and secret request i is signed with, or nil.
	hmac []*[2]string
	// Refs[i] is the API of request i, for the replayed mix; Statuses[i]
	// its logged status.
	Refs     []APIRef
	Statuses []int
	// Dropped counts the log's records whose kind was too rare for one
	// slot of the list.
	Dropped int
	// MaxDelay is the longest backend time an answer of the list waits at
	// the origin (its logged backend_us, at most the origin's 30 s cap).
	MaxDelay time.Duration
	Notes    []string
}

// buildReplay lays out n requests (see TrafficMix.replaySlots) with
// credentials for their logged consumers.
func buildReplay(m *TrafficMix, creds *replayCreds, n int) (*replayList, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: replay list length %d < 1", n)
	}
	slots, dropped := m.replaySlots(n)
	rl := &replayList{Dropped: dropped}
	var maxIn int64
	for _, s := range slots {
		maxIn = max(maxIn, s.sample.BytesIn)
	}
	if maxIn > maxReplayBody {
		rl.note("request bodies over %d bytes are replayed at %d bytes", maxReplayBody, maxReplayBody)
		maxIn = maxReplayBody
	}
	bodies := replayBodies{bySize: map[int64][]byte{}, max: maxIn}
	tokens := map[string]string{}
	for _, s := range slots {
		k, smp := s.kind, s.sample
		spec := RequestSpec{Method: k.key.Method, URI: escapePath(smp.Path), ExpectStatus: -1}
		if q := dropMasked(smp.Query); q != "" {
			spec.URI += "?" + q
		}
		if smp.Host != "" {
			spec.Headers = append(spec.Headers, Header{Name: "Host", Value: smp.Host})
		}
		// The logged client address, for the gateway's trusted loopback
		// proxy (see renderReplayConfig), and the logged user agent, which
		// the access log writes again.
		if ip, err := netip.ParseAddr(smp.ClientIP); err == nil {
			spec.Headers = append(spec.Headers, Header{Name: "X-Forwarded-For", Value: ip.String()})
		}
		if smp.UserAgent != "" && !strings.ContainsFunc(smp.UserAgent, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			spec.Headers = append(spec.Headers, Header{Name: "User-Agent", Value: smp.UserAgent})
		}
		if st := k.key.Ref.Stage; st != "" && st != "RELEASE" {
			spec.Headers = append(spec.Headers, Header{Name: "X-Ca-Stage", Value: st})
		}
		delay := time.Duration(0)
		if smp.ReachedBackend {
			delay = min(time.Duration(smp.BackendUS)*time.Microsecond, origin.MaxReplayDelay)
		}
		rl.MaxDelay = max(rl.MaxDelay, delay)
		// The calls of a composite backend carry this header each; their
		// merged answer was the logged one.
		size := min(smp.BytesOut, 1<<40)
		if n := creds.Calls[k.key.Ref.Group+"/"+k.key.Ref.API]; n > 1 {
			size = max(size/int64(n), 2)
		}
		spec.Headers = append(spec.Headers, Header{Name: origin.HeaderAnswer,
			Value: string(origin.AppendAnswer(nil, smp.Status, int(size), delay))})
		if smp.BytesIn > 0 {
			spec.Body = bodies.get(min(smp.BytesIn, maxReplayBody))
			spec.Headers = append(spec.Headers, Header{Name: "Content-Type", Value: "application/json"})
		}
		var app *[2]string
		if k.key.Ref.API != "" {
			apiKey := k.key.Ref.Group + "/" + k.key.Ref.API
			if ra := creds.Auth[apiKey]; ra != nil {
				hs, a, err := rl.credentials(creds, ra, apiKey, k.key.Consumer, k.key.Auth, tokens)
				if err != nil {
					return nil, err
				}
				spec.Headers = append(spec.Headers, hs...)
				app = a
			}
		}
		rl.Specs = append(rl.Specs, spec)
		rl.hmac = append(rl.hmac, app)
		rl.Refs = append(rl.Refs, k.key.Ref)
		rl.Statuses = append(rl.Statuses, smp.Status)
	}
	return rl, nil
}

// replayBodyBudget bounds the memory of the bodies built one per size.
const replayBodyBudget = 32 << 20

// replayBodies hands out request bodies that are JSON objects of exactly
// the logged size: an API with JSON body parameters refuses a body that is
// not a JSON object (400), and JSON body transforms only run on JSON, so
// filler bytes turned production's 200s into errors on every step. Each
// size gets {"r":"abc..."} until replayBodyBudget is spent; later sizes are
// cut from one shared buffer, whitespace then {"r":""}, which is a JSON
// object of any length from its end (JSON allows leading whitespace).
type replayBodies struct {
	bySize map[int64][]byte
	used   int64
	max    int64  // the largest body asked for
	pad    []byte // the shared buffer, built on first use
}

func (rb *replayBodies) get(n int64) []byte {
	const head, tail = `{"r":"`, `"}`
	switch {
	case n < 2:
		return []byte(" ")[:n]
	case n < int64(len(head)+len(tail)):
		return append([]byte("{}"), bytes.Repeat([]byte{' '}, int(n-2))...)
	}
	if b, ok := rb.bySize[n]; ok {
		return b
	}
	if rb.used+n <= replayBodyBudget {
		b := make([]byte, 0, n)
		b = append(b, head...)
		for i := int64(0); i < n-int64(len(head)+len(tail)); i++ {
			b = append(b, 'a'+byte(i%26))
		}
		b = append(b, tail...)
		rb.bySize[n] = b
		rb.used += n
		return b
	}
	if rb.pad == nil {
		const obj = `{"r":""}`
		rb.pad = append(bytes.Repeat([]byte{' '}, int(max(rb.max, n)-int64(len(obj)))), obj...)
	}
	return rb.pad[int64(len(rb.pad))-n:]
}

func (rl *replayList) note(format string, a ...any) {
	n := fmt.Sprintf(format, a...)
	for _, have := range rl.Notes {
		if have == n {
			return
		}
	}
	rl.Notes = append(rl.Notes, n)
}

// credentials returns the headers (and HMAC app) that make a request of
// consumer on an API with ra come out with the logged auth outcome: valid
// credentials for "ok" and "forbidden" (the consumer is authenticated,
// then refused by allowed_consumers), a wrong one for "failed", none for an
// anonymous caller.
func (rl *replayList) credentials(creds *replayCreds, ra *replayAuth, apiKey, consumer, outcome string,
	tokens map[string]string) ([]Header, *[2]string, error) {
	switch outcome {
	case "failed":
		for _, m := range ra.Modes {
			switch m {
			case "key":
				return []Header{{Name: ra.KeyHeader, Value: "plan-wrong-key"}}, nil, nil
			case "jwt":
				return []Header{{Name: "Authorization", Value: "Bearer plan.wrong.token"}}, nil, nil
			case "hmac":
				// A known app key with a wrong secret: the gateway computes
				// the signature before refusing it, as for a client whose
				// secret is stale; no credential at all costs far less.
				if app, ok := creds.anyApp(consumer); ok {
					return nil, &[2]string{app, "plan-wrong-secret"}, nil
				}
			}
		}
		return nil, nil, nil
	case "ok", "forbidden":
	default:
		return nil, nil, nil
	}
	if consumer == "" {
		return nil, nil, nil
	}
	for _, m := range ra.Modes {
		switch m {
		case "key":
			if k, ok := creds.APIKeys[consumer]; ok {
				return []Header{{Name: ra.KeyHeader, Value: k}}, nil, nil
			}
		case "hmac":
			if a, ok := creds.Apps[consumer]; ok {
				return nil, &a, nil
			}
		case "jwt":
			if ra.JWT == nil {
				continue
			}
			tk := apiKey + "\x00" + consumer
			tok, ok := tokens[tk]
			if !ok {
				var err error
				if tok, err = creds.token(ra, consumer); err != nil {
					return nil, nil, err
				}
				tokens[tk] = tok
			}
			switch {
			case ra.JWT.Cookie != "":
				return []Header{{Name: "Cookie", Value: ra.JWT.Cookie + "=" + tok}}, nil, nil
			case ra.JWT.Header != "":
				return []Header{{Name: ra.JWT.Header, Value: tok}}, nil, nil
			}
			return []Header{{Name: "Authorization", Value: "Bearer " + tok}}, nil, nil
		}
	}
	rl.note("consumer %q on API %s: no credential the replay can generate (modes %v); sent without one", consumer, apiKey, ra.Modes)
	return nil, nil, nil
}

// signer returns the Sign hook for the list's HMAC requests, or nil when
// there are none. Request seq is Specs[seq % len]; its nonce is unique per
// run and gateway start (seq plus the clock), so replay protection passes.
func (rl *replayList) signer() Signer {
	signed := false
	for _, a := range rl.hmac {
		signed = signed || a != nil
	}
	if !signed {
		return nil
	}
	n := uint64(len(rl.hmac))
	return func(req *fasthttp.Request, seq uint64) error {
		a := rl.hmac[seq%n]
		if a == nil {
			return nil
		}
		return casign.SignFastHTTP(req, a[0], a[1], casign.SignOptions{
			Nonce: "plan-" + strconv.FormatUint(seq, 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	}
}

// apiShares is each API's share of the list.
func (rl *replayList) apiShares() map[APIRef]float64 {
	out := map[APIRef]float64{}
	for _, r := range rl.Refs {
		out[r.apiOnly()] += 1 / float64(len(rl.Refs))
	}
	return out
}

// escapePath percent-encodes a logged path for a request line. The gateway
// logs the path decoded (fasthttp's URI.Path), so a space, a '%', a '?' or
// a non-ASCII byte in it must be encoded again for the gateway to decode
// the same path; RFC 3986 path characters stay as they are.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0 {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(p)+8), p[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return p
	}
	return string(b)
}
