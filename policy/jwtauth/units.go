package jwtauth

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string like "30s" or "10m".
type Duration time.Duration

// UnmarshalText parses a Go duration string; negative values are errors.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("duration must not be negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders the duration the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written in TOML as "512KiB", "1MiB" or a plain number.
type Size int64

// UnmarshalText parses a size with an optional B, KiB, MiB or GiB suffix.
func (s *Size) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return errors.New("invalid size " + strconv.Quote(string(b)) + ` (want e.g. "1MiB")`)
	}
	*s = Size(n * mult)
	return nil
}
