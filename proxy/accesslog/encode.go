package accesslog

import (
	"strconv"
	"strings"
	"time"
)

// Encoder turns Records into JSON lines. It keeps a scratch buffer, so one
// Encoder must not be used by several goroutines at once; the shipper owns
// one.
//
// A line has every key, always, in this order (absent values are "" or 0):
//
//	{"time":"2025-01-02T03:04:05.678Z","request_id":"…","trace_id":"…",
//	 "client_ip":"…","method":"GET","host":"…","path":"/p?q=1&token=***",
//	 "status":200,"error_code":"","bytes_in":0,"bytes_out":512,
//	 "group":"…","stage":"…","api":"…","consumer":"…","upstream":"…",
//	 "attempts":1,"latency_us":1500,"gateway_us":300,"backend_us":1200,
//	 "cache":"miss","throttle":"pass","auth":"ok","user_agent":"…"}
//
// Durations are whole microseconds, converted before subtracting so that
// gateway_us + backend_us == latency_us exactly.
type Encoder struct {
	masked  [][]byte
	scratch []byte
	// rawArena is set per record when no byte of its arena needs escaping
	// (the usual case): its fields are then copied as they are.
	rawArena bool
	// sec and secText cache the "2006-01-02T15:04:05." prefix of the last
	// whole second formatted: consecutive records share it.
	sec     int64
	secText []byte
}

// NewEncoder returns an Encoder that masks the given query parameter names
// (compared case-insensitively).
func NewEncoder(masked []string) *Encoder {
	e := &Encoder{scratch: make([]byte, 0, int(fieldMax[FieldQuery])+64)}
	for _, m := range masked {
		e.masked = append(e.masked, []byte(strings.ToLower(m)))
	}
	return e
}

// Latencies returns the encoded total, gateway and backend times in whole
// microseconds. Backend is clamped to [0, total], so gateway is never
// negative, and gateway+backend == total.
func Latencies(total, backend time.Duration) (totalUS, gatewayUS, backendUS int64) {
	totalUS = max(int64(total/time.Microsecond), 0)
	backendUS = min(max(int64(backend/time.Microsecond), 0), totalUS)
	return totalUS, totalUS - backendUS, backendUS
}

// AppendJSON appends r as one JSON object followed by '\n'. It does not
// allocate once dst has room.
func (e *Encoder) AppendJSON(dst []byte, r *Record) []byte {
	// One pass over the arena instead of one escaping loop per field.
	e.rawArena = !needsEscape(r.arena[:r.used])
	dst = append(dst, `{"time":"`...)
	dst = e.appendTime(dst, r.Time)
	dst = e.str(dst, `","request_id":"`, r.Get(FieldRequestID))
	dst = e.str(dst, `","trace_id":"`, r.Get(FieldTraceID))
	dst = e.str(dst, `","client_ip":"`, r.Get(FieldClientIP))
	dst = e.str(dst, `","method":"`, r.Get(FieldMethod))
	dst = e.str(dst, `","host":"`, r.Get(FieldHost))
	dst = e.str(dst, `","path":"`, r.Get(FieldPath))
	if q := r.Get(FieldQuery); len(q) > 0 {
		dst = append(dst, '?')
		e.scratch = maskQuery(e.scratch[:0], q, e.masked)
		dst = appendEscaped(dst, e.scratch)
	}
	dst = append(dst, `","status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = e.str(dst, `,"error_code":"`, r.Get(FieldErrorCode))
	dst = append(dst, `","bytes_in":`...)
	dst = strconv.AppendInt(dst, r.BytesIn, 10)
	dst = append(dst, `,"bytes_out":`...)
	dst = strconv.AppendInt(dst, r.BytesOut, 10)
	dst = append(dst, `,"group":"`...)
	dst = appendEscapedString(dst, r.Group)
	dst = append(dst, `","stage":"`...)
	dst = appendEscapedString(dst, r.Stage)
	dst = append(dst, `","api":"`...)
	dst = appendEscapedString(dst, r.API)
	dst = e.str(dst, `","consumer":"`, r.Get(FieldConsumer))
	dst = e.str(dst, `","upstream":"`, r.Get(FieldUpstream))
	dst = append(dst, `","attempts":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempts), 10)
	t, g, b := Latencies(r.Total, r.Backend)
	dst = append(dst, `,"latency_us":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"gateway_us":`...)
	dst = strconv.AppendInt(dst, g, 10)
	dst = append(dst, `,"backend_us":`...)
	dst = strconv.AppendInt(dst, b, 10)
	dst = append(dst, `,"cache":"`...)
	dst = append(dst, r.Cache.String()...)
	dst = append(dst, `","throttle":"`...)
	dst = append(dst, r.Throttle.String()...)
	dst = append(dst, `","auth":"`...)
	dst = append(dst, r.Auth.String()...)
	dst = e.str(dst, `","user_agent":"`, r.Get(FieldUserAgent))
	return append(dst, '"', '}', '\n')
}

func (e *Encoder) str(dst []byte, key string, v []byte) []byte {
	dst = append(dst, key...)
	if e.rawArena {
		return append(dst, v...)
	}
	return appendEscaped(dst, v)
}

// appendTime is appendTime with the second's text cached.
func (e *Encoder) appendTime(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	rem := ns % 1e9
	if rem < 0 {
		sec--
		rem += 1e9
	}
	if e.secText == nil || sec != e.sec {
		// The full text of the second's first millisecond, minus "000Z".
		e.secText = appendTime(e.secText[:0], sec*1e9)
		e.secText = e.secText[:len(e.secText)-4]
		e.sec = sec
	}
	ms := rem / 1e6
	dst = append(dst, e.secText...)
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}
