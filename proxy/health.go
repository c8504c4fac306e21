package proxy

import (
	"bufio"
	"math/rand/v2"
	"net"
	"time"

	"github.com/sluicegw/sluice/policy"
)

// Active health checks. One goroutine per target and check settings probes
// the target every interval (the first probe at a random point within the
// first interval, so a gateway start or reload never sends a burst), and
// flips the target's shared state in the registry: down after `fall`
// failures in a row, up after `rise` passes in a row; coming back up also
// ends a passive ejection early. Checkers are started only when a snapshot is put
// into service (upstreams.end), never while a config is compiled or
// checked, and live while a serving snapshot asks for them; a reload that
// keeps the settings keeps the running checker and its schedule.

// checker is one running probe loop.
type checker struct {
	stop chan struct{}
	done chan struct{}
}

// wantedCheck is a checker the snapshot being compiled asks for.
type wantedCheck struct {
	tg   *target
	host string
	spec *policy.HealthCheck
}

// want records that tg is to be checked with spec (called by bind).
func (u *upstreams) want(tg *target, host string, spec *policy.HealthCheck) {
	u.mu.Lock()
	u.wanted[tg.addr+"|"+host+"|"+spec.Key()] = wantedCheck{tg: tg, host: host, spec: spec}
	u.mu.Unlock()
}

// syncChecks starts wanted checkers that are not running and stops running
// ones no longer wanted. Called with u.mu held.
func (u *upstreams) syncChecks() {
	for k, c := range u.checks {
		if _, ok := u.wanted[k]; !ok {
			close(c.stop)
			delete(u.checks, k)
		}
	}
	for k, w := range u.wanted {
		if _, ok := u.checks[k]; ok {
			continue
		}
		c := &checker{stop: make(chan struct{}), done: make(chan struct{})}
		u.checks[k] = c
		go u.runCheck(c, w)
	}
}

// stopChecks stops every checker and waits for them (tests, shutdown).
func (u *upstreams) stopChecks() {
	u.mu.Lock()
	cs := u.checks
	u.checks = map[string]*checker{}
	u.wanted = map[string]wantedCheck{}
	u.mu.Unlock()
	for _, c := range cs {
		close(c.stop)
		<-c.done
	}
}

func (u *upstreams) runCheck(c *checker, w wantedCheck) {
	defer close(c.done)
	spec := w.spec
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(spec.Interval))))
	defer timer.Stop()
	passes, fails := 0, 0
	for {
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		ok := u.probe(w)
		tg := w.tg
		now := u.now()
		if ok {
			tg.m.checksOK.Inc()
			passes, fails = passes+1, 0
			// Coming back up ends a passive ejection too: the checks saw the
			// target fail and recover. A pass of a target the checks never
			// took down does not: it was ejected for what real requests got
			// (5xx, timeouts on other paths), which /health may not show.
			if tg.down.Load() && passes >= spec.Rise {
				tg.down.Store(false)
				tg.upSince.Store(now)
				tg.unEject(now)
			}
		} else {
			tg.m.checksFail.Inc()
			passes, fails = 0, fails+1
			if !tg.down.Load() && fails >= spec.Fall {
				tg.down.Store(true)
			}
		}
		timer.Reset(spec.Interval)
	}
}

// probe runs one check: a TCP connect, or an HTTP/1.1 GET of the path
// whose status line must carry a passing status.
func (u *upstreams) probe(w wantedCheck) bool {
	spec := w.spec
	deadline := time.Now().Add(spec.Timeout)
	var conn net.Conn
	var err error
	if u.dial != nil {
		conn, err = u.dial(w.tg.addr)
	} else {
		conn, err = net.DialTimeout("tcp", w.tg.addr, spec.Timeout)
	}
	if err != nil {
		return false
	}
	defer conn.Close()
	if spec.TCP {
		return true
	}
	_ = conn.SetDeadline(deadline)
	host := spec.Host
	if host == "" {
		host = w.host
	}
	req := "GET " + spec.Path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: sluice-health-check\r\nConnection: close\r\nAccept: */*\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return false
	}
	line, err := bufio.NewReaderSize(conn, 512).ReadSlice('\n')
	if err != nil || len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return false
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false
		}
		status = status*10 + int(c-'0')
	}
	return spec.Passes(status)
}
