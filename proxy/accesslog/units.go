package accesslog

import (
	"errors"
	"github.com/sluicegw/sluice/policy/units"
	"strconv"
)

// Duration ("1s", "250ms") is the config's shared duration type.
type Duration = units.Duration

// Size is a byte count written in config as an integer with an optional
// unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// e.g. "1MiB", "512KiB", "4096".
type Size int64

var errSize = errors.New("invalid size: want an integer with an optional unit B, KB, MB, GB, KiB, MiB or GiB")

// maxSize bounds sizes to 1 TiB so that no product below can overflow.
const maxSize = 1 << 40

// ParseSize parses a Size. It is strict: no sign, no spaces, no fractions.
func ParseSize(s string) (Size, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 13 {
		return 0, errSize
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, errSize
	}
	var mul int64
	switch s[i:] {
	case "", "B":
		mul = 1
	case "KB":
		mul = 1000
	case "MB":
		mul = 1000 * 1000
	case "GB":
		mul = 1000 * 1000 * 1000
	case "KiB":
		mul = 1 << 10
	case "MiB":
		mul = 1 << 20
	case "GiB":
		mul = 1 << 30
	default:
		return 0, errSize
	}
	if n > maxSize/mul {
		return 0, errors.New("invalid size: larger than 1TiB")
	}
	return Size(n * mul), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (z *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (z Size) MarshalText() ([]byte, error) {
	return strconv.AppendInt(nil, int64(z), 10), nil
}
