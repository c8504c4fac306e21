package bench

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReserveRefusedAddr(t *testing.T) {
	rp, err := ReserveRefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLoopbackAddr(rp.Addr()); err != nil {
		t.Fatal(err)
	}
	// Refused at once, not a timeout: the sink fails fast, as a down
	// collector on the same host does.
	for i := 0; i < 3; i++ {
		c, err := net.DialTimeout("tcp", rp.Addr(), 2*time.Second)
		if err == nil {
			c.Close()
			t.Fatal("connection to a reserved port accepted")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial: %v, want connection refused", err)
		}
	}
	// Held: nobody else can listen there while reserved.
	if ln, err := net.Listen("tcp", rp.Addr()); err == nil {
		ln.Close()
		t.Fatal("reserved port could be taken")
	}
	if err := rp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rp.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	// Released: the port can be listened on again.
	ln, err := net.Listen("tcp", rp.Addr())
	if err != nil {
		t.Fatalf("released port: %v", err)
	}
	ln.Close()
}

// TestSinkDownConfig renders log-sink-down with a reserved port: the only
// sink is HTTP to that port.
func TestSinkDownConfig(t *testing.T) {
	rp, err := ReserveRefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	sc, _ := ScenarioByName("log-sink-down")
	conf, err := RenderGatewayConfig(GatewayParams{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Origin: "127.0.0.1:3",
		Features: sc.Features, RefusedAddr: rp.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	s := string(conf)
	if !containsAll(s, "[access_log]", `type = "http"`, `url = "http://`+rp.Addr()+`/bench-log"`) ||
		strings.Count(s, "[[access_log.sinks]]") != 1 || strings.Count(s, "type = ") != 1 {
		t.Errorf("config:\n%s", s)
	}
	// Without a reserved port the discard port stands in.
	conf, _ = RenderGatewayConfig(GatewayParams{Features: sc.Features})
	if !containsAll(string(conf), "http://127.0.0.1:9/") {
		t.Errorf("default refused address:\n%s", conf)
	}
}
