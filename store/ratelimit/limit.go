package ratelimit

import (
	"errors"
	"fmt"
	"math"
)

// Period says what a Limit counts: a token bucket (PeriodNone) or a quota of
// Burst units per fixed UTC-aligned window.
type Period uint8

// Periods. A quota window starts at a UTC minute, hour or midnight boundary.
const (
	PeriodNone   Period = iota // token bucket refilled at Rate per second
	PeriodMinute               // quota per UTC minute
	PeriodHour                 // quota per UTC hour
	PeriodDay                  // quota per UTC day
	periodCount
)

// nanos is the window length in nanoseconds (0 for PeriodNone).
func (p Period) nanos() int64 {
	switch p {
	case PeriodMinute:
		return 60e9
	case PeriodHour:
		return 3600e9
	case PeriodDay:
		return 86400e9
	}
	return 0
}

// String returns the period's config spelling.
func (p Period) String() string {
	switch p {
	case PeriodNone:
		return "none"
	case PeriodMinute:
		return "minute"
	case PeriodHour:
		return "hour"
	case PeriodDay:
		return "day"
	}
	return "invalid"
}

const (
	// maxTau bounds Burst/Rate (about 73 years) so that TAT arithmetic on
	// Unix nanoseconds can never overflow int64.
	maxTau = int64(1) << 61

	// MaxQuota is the largest quota a window can count (40-bit counter).
	MaxQuota = int64(1)<<countBits - 1
)

// Limit is one compiled rate or quota. Build it with NewLimit or NewQuota
// when a snapshot is compiled; a Limit literal is rejected by Allow because
// the derived fields would be missing. A Limit is immutable after
// construction and safe for concurrent use; it holds no state (state lives
// in the Store, keyed by Request.Key), so snapshots may share or replace
// Limits freely across reloads.
type Limit struct {
	// Rate is the bucket's refill rate in tokens per second (0 for quotas).
	Rate float64
	// Burst is the bucket's capacity, or the quota's units per window.
	Burst int64
	// Period is PeriodNone for a bucket, else the quota window.
	Period Period

	interval int64 // bucket: nanoseconds per token; quota: window length
	tau      int64 // bucket: interval*Burst, the time a full bucket lasts
}

// NewLimit returns a token bucket refilled at rate tokens per second that
// holds at most burst tokens. The rate is stored as a whole number of
// nanoseconds per token, so rates above 1e9/s are rejected and other rates
// are rounded to the nearest nanosecond per token.
func NewLimit(rate float64, burst int64) (*Limit, error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0 {
		return nil, errors.New("ratelimit: rate must be a positive finite number")
	}
	if burst < 1 {
		return nil, errors.New("ratelimit: burst must be at least 1")
	}
	iv := math.Round(1e9 / rate)
	if rate > 1e9 {
		return nil, errors.New("ratelimit: rate above 1e9 per second")
	}
	if iv > float64(maxTau) || int64(iv) > maxTau/burst {
		return nil, fmt.Errorf("ratelimit: burst %d at rate %g/s spans more than %d s", burst, rate, maxTau/1e9)
	}
	interval := int64(iv)
	return &Limit{Rate: rate, Burst: burst, interval: interval, tau: interval * burst}, nil
}

// NewQuota returns a quota of max units per UTC-aligned window p.
func NewQuota(p Period, max int64) (*Limit, error) {
	if p == PeriodNone || p >= periodCount {
		return nil, errors.New("ratelimit: quota period must be minute, hour or day")
	}
	if max < 1 || max > MaxQuota {
		return nil, fmt.Errorf("ratelimit: quota must be between 1 and %d", MaxQuota)
	}
	return &Limit{Burst: max, Period: p, interval: p.nanos()}, nil
}

// MustLimit is NewLimit that panics; for tests and constant tables.
func MustLimit(rate float64, burst int64) *Limit {
	l, err := NewLimit(rate, burst)
	if err != nil {
		panic(err)
	}
	return l
}

// MustQuota is NewQuota that panics; for tests and constant tables.
func MustQuota(p Period, max int64) *Limit {
	l, err := NewQuota(p, max)
	if err != nil {
		panic(err)
	}
	return l
}
