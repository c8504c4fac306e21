// Package units holds the config value types every package decodes from TOML:
// durations written as "9s" and sizes written as "10MiB". One definition, so
// every key of the file reads units the same way.
package units

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string ("9s", "1m30s").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for the TOML decoder.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return errors.New("invalid duration " + strconv.Quote(string(b)) + `: want a number with a unit, e.g. "9s" or "500ms"`)
	}
	if v < 0 {
		return errors.New("invalid duration " + strconv.Quote(string(b)) + ": must not be negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders the duration the way it is written in TOML.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written in TOML as a string with a binary or decimal unit
// ("10MiB", "512KiB", "1GB", "4096") or as a bare integer.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses "10MiB" and friends.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			mult = u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("invalid size " + strconv.Quote(s) + `: want a whole number with an optional unit, e.g. "10MiB", "512KiB", "4096"`)
	}
	if n > 0 && mult > (1<<62)/n {
		return 0, errors.New("invalid size " + strconv.Quote(s) + ": too large")
	}
	return Size(n * mult), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the TOML decoder.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText renders the size in the largest whole binary unit.
func (s Size) MarshalText() ([]byte, error) {
	n := int64(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return []byte(strconv.FormatInt(n/u.mult, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(n, 10)), nil
}
