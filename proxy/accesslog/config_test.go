package accesslog

import "testing"

// The schema and its validation are tested in policy/logconf; this only
// checks that New refuses what logconf refuses.
func TestNewRejectsInvalidConfig(t *testing.T) {
	for _, c := range []Config{{RingSize: 1000}, {Sinks: []SinkConfig{{Type: "kafka"}}}} {
		if l, err := New(c); err == nil {
			l.Shutdown(t.Context())
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
