package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/store/redisstate"
	"github.com/sluicegw/sluice/store/redisstate/redistest"
)

// TestLogBreakerLogsEachSwitch: the breaker log, which now waits on the
// Conn's change signal instead of a 100 ms ticker, still writes one line
// when the node falls back and one when Redis is back, and none otherwise.
func TestLogBreakerLogsEachSwitch(t *testing.T) {
	rs := redistest.Start(t)
	c, err := redisstate.Dial(redisstate.Options{Addrs: []string{rs.Addr}, Timeout: 200 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); !c.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("not healthy with Redis up")
		}
	}
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { logBreaker(log, c, true, stop); close(done) }()
	defer func() { close(stop); <-done }()

	c.Failed(errors.New("injected failure"))
	waitLog(t, &out, "Redis back") // the prober's PING closes it again
	got := out.String()
	if strings.Count(got, "Redis unreachable") != 1 || strings.Count(got, "Redis back") != 1 ||
		strings.Index(got, "Redis unreachable") > strings.Index(got, "Redis back") {
		t.Fatalf("want one fallback line then one back line, got:\n%s", got)
	}
	if !strings.Contains(got, "injected failure") {
		t.Fatalf("the fallback line does not carry the error:\n%s", got)
	}
}

func waitLog(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for start := time.Now(); !strings.Contains(out.String(), want); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no %q line; log:\n%s", want, out.String())
		}
	}
}
