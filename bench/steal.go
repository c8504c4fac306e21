package bench

import (
	"bytes"
	"errors"
	"os"
)

// CPUTimes is the machine-wide line of /proc/stat: all CPU time and the
// part the hypervisor gave to other guests (steal), in clock ticks.
type CPUTimes struct {
	Total, Steal uint64
}

var errStatCPU = errors.New(`bench: malformed "cpu" line in /proc/stat`)

// ParseStatCPU reads the first line of /proc/stat, "cpu  user nice system
// idle iowait irq softirq steal [guest guest_nice]". Total is the sum of the
// first eight (guest time is already inside user and nice).
func ParseStatCPU(b []byte) (CPUTimes, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 9 || len(f) > 11 || string(f[0]) != "cpu" {
		return CPUTimes{}, errStatCPU
	}
	var t CPUTimes
	for i, x := range f[1:] {
		v, err := parseUint(x)
		if err != nil {
			return CPUTimes{}, errStatCPU
		}
		if i < 8 {
			if t.Total+v < t.Total {
				return CPUTimes{}, errStatCPU
			}
			t.Total += v
		}
		if i == 7 {
			t.Steal = v
		}
	}
	return t, nil
}

// ReadCPUTimes reads /proc/stat.
func ReadCPUTimes() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	return ParseStatCPU(b)
}

// StealPercent is the share of the CPU time between a and b that the
// hypervisor stole, in percent; ok is false when no time passed or the
// counters went backwards.
func StealPercent(a, b CPUTimes) (pct float64, ok bool) {
	if b.Total <= a.Total || b.Steal < a.Steal {
		return 0, false
	}
	return 100 * float64(b.Steal-a.Steal) / float64(b.Total-a.Total), true
}
