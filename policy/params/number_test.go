package params

import "testing"

func TestParseInt(t *testing.T) {
	ok := map[string]int64{"0": 0, "-0": 0, "42": 42, "007": 7, "-9223372036854775808": -9223372036854775808, "9223372036854775807": 9223372036854775807}
	for s, want := range ok {
		if got, good := ParseInt([]byte(s)); !good || got != want {
			t.Errorf("ParseInt(%q) = %d, %v", s, got, good)
		}
	}
	for _, s := range []string{"", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "1_000", "9223372036854775808", "-9223372036854775809", "99999999999999999999999"} {
		if _, good := ParseInt([]byte(s)); good {
			t.Errorf("ParseInt(%q) accepted", s)
		}
	}
}

func TestParseNumber(t *testing.T) {
	ok := map[string]float64{"0": 0, "-1.5": -1.5, "1e3": 1000, "1E-2": 0.01, "007.5": 7.5, "1e-400": 0}
	for s, want := range ok {
		if got, good := ParseNumber([]byte(s)); !good || got != want {
			t.Errorf("ParseNumber(%q) = %v, %v", s, got, good)
		}
	}
	for _, s := range []string{"", "-", ".5", "1.", "1e", "1e+", "inf", "NaN", "0x1p3", "1_0", "+1", "1e400", " 1"} {
		if _, good := ParseNumber([]byte(s)); good {
			t.Errorf("ParseNumber(%q) accepted", s)
		}
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string]bool{"true": true, "1": true, "false": false, "0": false} {
		if got, ok := ParseBool([]byte(s)); !ok || got != want {
			t.Errorf("ParseBool(%q)", s)
		}
	}
	for _, s := range []string{"", "True", "yes", "2", "t"} {
		if _, ok := ParseBool([]byte(s)); ok {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}
