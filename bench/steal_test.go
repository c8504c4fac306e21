package bench

import (
	"strconv"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	good := "cpu  575480 0 247988 745286 6938 0 82996 10684 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
	got, err := ParseStatCPU([]byte(good))
	if want := (CPUTimes{Total: 575480 + 247988 + 745286 + 6938 + 82996 + 10684, Steal: 10684}); err != nil || got != want {
		t.Fatalf("ParseStatCPU = %+v, %v; want %+v", got, err, want)
	}
	// Old kernels: eight values, no guest columns.
	if got, err := ParseStatCPU([]byte("cpu 1 2 3 4 5 6 7 8\n")); err != nil || got.Total != 36 || got.Steal != 8 {
		t.Fatalf("eight columns: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3 4 5 6 7", "cpu 1 2 3 4 5 6 7 x",
		"cpu 1 2 3 4 5 6 7 8 9 10 11", "cpu -1 2 3 4 5 6 7 8",
		"cpu 18446744073709551615 1 0 0 0 0 0 0"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("ParseStatCPU(%q) accepted", bad)
		}
	}
	if _, err := ReadCPUTimes(); err != nil {
		t.Fatalf("this machine's /proc/stat: %v", err)
	}
}

func TestStealPercent(t *testing.T) {
	if p, ok := StealPercent(CPUTimes{100, 10}, CPUTimes{300, 60}); !ok || p != 25 {
		t.Fatalf("StealPercent = %v, %v; want 25", p, ok)
	}
	for _, c := range [][2]CPUTimes{{{100, 10}, {100, 10}}, {{100, 10}, {90, 10}}, {{100, 10}, {200, 5}}} {
		if _, ok := StealPercent(c[0], c[1]); ok {
			t.Errorf("StealPercent%v accepted", c)
		}
	}
}

func FuzzStatCPU(f *testing.F) {
	f.Add([]byte("cpu  575480 0 247988 745286 6938 0 82996 10684 0 0\n"))
	f.Add([]byte("cpu 1 2 3 4 5 6 7 8"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseStatCPU(b)
		if err != nil {
			return
		}
		if got.Steal > got.Total {
			t.Fatalf("%q: steal %d > total %d", b, got.Steal, got.Total)
		}
		// Accepted lines re-parse to the same figures from their fields.
		s := "cpu"
		for _, v := range []uint64{got.Total - got.Steal, 0, 0, 0, 0, 0, 0, got.Steal} {
			s += " " + strconv.FormatUint(v, 10)
		}
		if again, err := ParseStatCPU([]byte(s)); err != nil || again != got {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", b, got, s, again, err)
		}
	})
}
