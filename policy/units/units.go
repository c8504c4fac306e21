// Package units holds the config value types every package decodes from TOML:
// durations written as "9s" and sizes written as "10MiB". One definition and
// one grammar, so every key of the file reads units the same way ([server],
// [access_log], params, jwt: issue 10).
//
// The TOML decoder turns a bare integer into these int64-based types without
// asking them, so "read_timeout = 30" would silently be 30ns. policy checks
// every value's TOML type against its Go type before decoding (policy's
// schema check) and rejects a bare number for a Duration and a negative one
// for a Size; the methods here parse the string forms.
package units

import (
	"errors"
	"strconv"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string ("9s",
// "1m30s"). A bare number is an error: it has no unit.
type Duration time.Duration

// ParseDuration parses a non-negative Go duration string.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("invalid duration " + Quote(s) + `: want a number with a unit, e.g. "9s" or "500ms"`)
	}
	if v < 0 {
		return 0, errors.New("invalid duration " + Quote(s) + ": must not be negative")
	}
	return Duration(v), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the TOML decoder.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText renders the duration the way it is written in TOML.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count. In TOML it is a string, a whole number with an
// optional unit, optionally separated by one space: "4096", "512KiB",
// "10 MiB", "1GB"; or a bare non-negative integer (bytes). Units are B, KB,
// MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024), case
// as written. At most MaxSize.
type Size int64

// MaxSize bounds every size to 1 TiB, far above any sane limit, so that no
// product of a size can overflow.
const MaxSize = 1 << 40

var errSize = errors.New(`want a whole number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. "10MiB", "512KiB", "4096"`)

// ParseSize parses "10MiB" and friends. No sign, no fraction, no spaces
// except one between the number and the unit.
func ParseSize(s string) (Size, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 13 {
		return 0, errors.New("invalid size " + Quote(s) + ": " + errSize.Error())
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64) // at most 13 digits: cannot fail
	unit := s[i:]
	if len(unit) > 1 && unit[0] == ' ' {
		unit = unit[1:]
	}
	var mul int64
	switch unit {
	case "", "B":
		mul = 1
	case "KB":
		mul = 1000
	case "MB":
		mul = 1000 * 1000
	case "GB":
		mul = 1000 * 1000 * 1000
	case "TB":
		mul = 1000 * 1000 * 1000 * 1000
	case "KiB":
		mul = 1 << 10
	case "MiB":
		mul = 1 << 20
	case "GiB":
		mul = 1 << 30
	case "TiB":
		mul = 1 << 40
	default:
		return 0, errors.New("invalid size " + Quote(s) + ": " + errSize.Error())
	}
	if n > MaxSize/mul {
		return 0, errors.New("invalid size " + Quote(s) + ": larger than 1TiB")
	}
	return Size(n * mul), nil
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

// MarshalText renders the size in the largest whole binary unit, in the
// grammar ParseSize reads.
func (s Size) MarshalText() ([]byte, error) {
	n := int64(s)
	for _, u := range [...]struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return []byte(strconv.FormatInt(n/u.mult, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(n, 10)), nil
}

// QuoteMax is how many bytes of a value Quote shows.
const QuoteMax = 64

// Quote quotes a config value for an error message, cutting it to its first
// QuoteMax bytes and saying how long it was: a 50 MB value must not become a
// 50 MB error line (issue 10, defect 13).
func Quote(s string) string {
	if len(s) <= QuoteMax {
		return strconv.Quote(s)
	}
	cut := QuoteMax
	// Do not split a UTF-8 sequence: back up to a rune start.
	for cut > QuoteMax-4 && cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
