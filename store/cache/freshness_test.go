package cache

import (
	"testing"

	"github.com/sluicegw/sluice/policy/httpbytes"
)

// resp builds a Response from header lines "Name: value".
func resp(t testing.TB, lines ...string) *Response {
	t.Helper()
	r := &Response{}
	for _, l := range lines {
		i := 0
		for i < len(l) && l[i] != ':' {
			i++
		}
		if i == len(l) {
			t.Fatalf("bad header line %q", l)
		}
		r.ParseResponseField([]byte(l[:i]), httpbytes.TrimOWS([]byte(l[i+1:])), now2026)
	}
	return r
}

func reqCC(s string) *Directives {
	d := &Directives{}
	ParseCacheControl(d, []byte(s))
	return d
}

func TestMayStore(t *testing.T) {
	only200 := NewStatusSet(200)
	cases := []struct {
		name   string
		in     StoreInput
		lines  []string
		reqCC  string
		reason Reason
	}{
		{"max-age 200", StoreInput{Method: []byte("GET"), Status: 200}, []string{"Cache-Control: max-age=60"}, "", Storable},
		{"no headers, heuristically cacheable 200", StoreInput{Method: []byte("GET"), Status: 200}, nil, "", Storable},
		{"HEAD not stored", StoreInput{Method: []byte("HEAD"), Status: 200}, []string{"Cache-Control: max-age=60"}, "", RefuseMethod},
		{"POST not stored", StoreInput{Method: []byte("POST"), Status: 200}, []string{"Cache-Control: max-age=60"}, "", RefuseMethod},
		{"206 never", StoreInput{Method: []byte("GET"), Status: 206, Statuses: &heuristicStatuses}, []string{"Cache-Control: max-age=60"}, "", RefuseStatus},
		{"304 never", StoreInput{Method: []byte("GET"), Status: 304}, []string{"Cache-Control: max-age=60"}, "", RefuseStatus},
		{"500 not in the default set", StoreInput{Method: []byte("GET"), Status: 500}, []string{"Cache-Control: max-age=60"}, "", RefuseStatus},
		{"404 in the default set", StoreInput{Method: []byte("GET"), Status: 404}, nil, "", Storable},
		{"404 not in a configured set", StoreInput{Method: []byte("GET"), Status: 404, Statuses: &only200}, nil, "", RefuseStatus},
		{"302 configured with explicit freshness", StoreInput{Method: []byte("GET"), Status: 302, Statuses: ptr(NewStatusSet(302))}, []string{"Cache-Control: max-age=5"}, "", Storable},
		{"302 configured without freshness", StoreInput{Method: []byte("GET"), Status: 302, Statuses: ptr(NewStatusSet(302))}, nil, "", RefuseNoFreshness},
		{"302 configured with ttl", StoreInput{Method: []byte("GET"), Status: 302, Statuses: ptr(NewStatusSet(302)), DefaultTTL: 10}, nil, "", Storable},
		{"response no-store", StoreInput{Method: []byte("GET"), Status: 200}, []string{"Cache-Control: max-age=60, no-store"}, "", RefuseNoStore},
		{"request no-store", StoreInput{Method: []byte("GET"), Status: 200}, []string{"Cache-Control: max-age=60"}, "no-store", RefuseNoStore},
		{"private", StoreInput{Method: []byte("GET"), Status: 200}, []string{"Cache-Control: private, max-age=60"}, "", RefusePrivate},
		{"qualified private also refused", StoreInput{Method: []byte("GET"), Status: 200}, []string{`Cache-Control: private="X-User", max-age=60`}, "", RefusePrivate},
		{"no-cache stored (revalidated on use)", StoreInput{Method: []byte("GET"), Status: 200}, []string{"Cache-Control: no-cache"}, "", Storable},
		{"authorization, plain max-age", StoreInput{Method: []byte("GET"), Status: 200, HasAuth: true}, []string{"Cache-Control: max-age=60"}, "", RefuseAuthorization},
		{"authorization, public", StoreInput{Method: []byte("GET"), Status: 200, HasAuth: true}, []string{"Cache-Control: public, max-age=60"}, "", Storable},
		{"authorization, s-maxage", StoreInput{Method: []byte("GET"), Status: 200, HasAuth: true}, []string{"Cache-Control: s-maxage=60"}, "", Storable},
		{"authorization, must-revalidate", StoreInput{Method: []byte("GET"), Status: 200, HasAuth: true}, []string{"Cache-Control: must-revalidate, max-age=60"}, "", Storable},
		{"set-cookie refused", StoreInput{Method: []byte("GET"), Status: 200, SetCookie: true}, []string{"Cache-Control: max-age=60"}, "", RefuseSetCookie},
		{"set-cookie allowed by config", StoreInput{Method: []byte("GET"), Status: 200, SetCookie: true, CookieOK: true}, []string{"Cache-Control: max-age=60"}, "", Storable},
		{"vary star", StoreInput{Method: []byte("GET"), Status: 200, Vary: []byte("Accept, *")}, []string{"Cache-Control: max-age=60"}, "", RefuseVaryStar},
		{"vary list fine", StoreInput{Method: []byte("GET"), Status: 200, Vary: []byte("Accept-Encoding, Accept-Language")}, []string{"Cache-Control: max-age=60"}, "", Storable},
		{"expires makes 203 storable", StoreInput{Method: []byte("GET"), Status: 203}, []string{"Expires: Sun, 06 Nov 2044 08:49:37 GMT"}, "", Storable},
		{"invalid expires still freshness info", StoreInput{Method: []byte("GET"), Status: 307, Statuses: ptr(NewStatusSet(307))}, []string{"Expires: 0"}, "", Storable},
		{"public makes non-heuristic status storable", StoreInput{Method: []byte("GET"), Status: 307, Statuses: ptr(NewStatusSet(307))}, []string{"Cache-Control: public"}, "", Storable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			in.Resp = resp(t, c.lines...)
			if c.reqCC != "" {
				in.Req = reqCC(c.reqCC)
			}
			if got := MayStore(&in); got != c.reason {
				t.Errorf("MayStore = %v, want %v", got, c.reason)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFreshnessLifetime(t *testing.T) {
	const rt = 1_000_000_000 // response time
	date := string(AppendHTTPDate(nil, rt))
	cases := []struct {
		name      string
		lines     []string
		status    int
		ttl       int64
		override  bool
		heuristic bool
		want      int64
	}{
		{"max-age", []string{"Cache-Control: max-age=60"}, 200, 0, false, true, 60},
		{"s-maxage over max-age", []string{"Cache-Control: max-age=60, s-maxage=5"}, 200, 0, false, true, 5},
		{"max-age over Expires", []string{"Date: " + date, "Expires: " + string(AppendHTTPDate(nil, rt+3600)), "Cache-Control: max-age=60"}, 200, 0, false, true, 60},
		{"Expires minus Date", []string{"Date: " + date, "Expires: " + string(AppendHTTPDate(nil, rt+3600))}, 200, 0, false, true, 3600},
		{"Expires minus response time when Date is absent", []string{"Expires: " + string(AppendHTTPDate(nil, rt+100))}, 200, 0, false, true, 100},
		{"Expires in the past", []string{"Date: " + date, "Expires: " + string(AppendHTTPDate(nil, rt-10))}, 200, 0, false, true, 0},
		{"invalid Expires is expired", []string{"Date: " + date, "Expires: 0"}, 200, 0, false, true, 0},
		{"invalid Expires loses to max-age", []string{"Expires: 0", "Cache-Control: max-age=9"}, 200, 0, false, true, 9},
		{"ttl when no freshness", nil, 200, 30, false, true, 30},
		{"ttl does not beat max-age", []string{"Cache-Control: max-age=60"}, 200, 30, false, true, 60},
		{"override ttl beats max-age", []string{"Cache-Control: max-age=60"}, 200, 30, true, true, 30},
		{"heuristic 10 %", []string{"Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt-1000))}, 200, 0, false, true, 100},
		{"heuristic capped at a day", []string{"Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt-100*86400))}, 200, 0, false, true, 86400},
		{"heuristic off by config", []string{"Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt-1000))}, 200, 0, false, false, 0},
		{"heuristic not for 302", []string{"Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt-1000))}, 302, 0, false, true, 0},
		{"heuristic for public 302", []string{"Cache-Control: public", "Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt-1000))}, 302, 0, false, true, 100},
		{"heuristic needs Last-Modified", []string{"Date: " + date}, 200, 0, false, true, 0},
		{"Last-Modified after Date", []string{"Date: " + date, "Last-Modified: " + string(AppendHTTPDate(nil, rt+10))}, 200, 0, false, true, 0},
		{"conflicting max-age is stale", []string{"Cache-Control: max-age=60", "Cache-Control: max-age=70"}, 200, 0, false, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resp(t, c.lines...)
			if got := FreshnessLifetime(r, c.status, rt, c.ttl, c.override, c.heuristic); got != c.want {
				t.Errorf("lifetime = %d, want %d", got, c.want)
			}
		})
	}
}

func TestCurrentAge(t *testing.T) {
	// RFC 9111 §4.2.3 worked through by hand for each case.
	cases := []struct {
		name                        string
		reqT, respT, date, age, now int64
		want                        int64
	}{
		{"fresh from origin", 100, 100, 100, 0, 100, 0},
		{"resident time", 100, 100, 100, 0, 130, 30},
		{"Age header counts", 100, 100, 100, 20, 130, 50},
		{"response delay added to Age", 100, 105, 105, 20, 105, 25},
		{"apparent age from an old Date", 100, 100, 90, 0, 100, 10},
		{"apparent age beats smaller corrected age", 100, 101, 80, 5, 101, 21},
		{"corrected age beats apparent age", 100, 101, 99, 40, 101, 41},
		{"Date in the future gives no negative age", 100, 100, 200, 0, 100, 0},
		{"clock before response time", 100, 100, 100, 0, 50, 0},
	}
	for _, c := range cases {
		m := Meta{RequestTime: c.reqT, ResponseTime: c.respT, Date: c.date, Age: c.age}
		if got := m.CurrentAge(c.now); got != c.want {
			t.Errorf("%s: current age %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	base := Meta{RequestTime: 1000, ResponseTime: 1000, Date: 1000, Lifetime: 60}
	with := func(f func(m *Meta)) Meta { m := base; f(&m); return m }
	cases := []struct {
		name string
		m    Meta
		req  string
		now  int64
		want Decision
	}{
		{"fresh", base, "", 1030, Fresh},
		{"stale at exactly lifetime", base, "", 1060, Revalidate},
		{"stale", base, "", 1100, Revalidate},
		{"no-cache answer always revalidates", with(func(m *Meta) { m.Flags |= MetaNoCache }), "", 1001, Revalidate},
		{"request no-cache", base, "no-cache", 1001, Revalidate},
		{"request max-age satisfied", base, "max-age=40", 1030, Fresh},
		{"request max-age too old", base, "max-age=10", 1030, Revalidate},
		{"request max-age=0", base, "max-age=0", 1001, Revalidate},
		{"min-fresh satisfied", base, "min-fresh=20", 1030, Fresh},
		{"min-fresh not satisfied", base, "min-fresh=40", 1030, Revalidate},
		{"max-stale within", base, "max-stale=50", 1100, StaleOK},
		{"max-stale exceeded", base, "max-stale=10", 1100, Revalidate},
		{"max-stale any", base, "max-stale", 9999, StaleOK},
		{"must-revalidate beats max-stale", with(func(m *Meta) { m.Flags |= MetaMustRevalidate }), "max-stale", 1100, Revalidate},
		{"stale-while-revalidate window", with(func(m *Meta) { m.SWR = 60 }), "", 1100, StaleRevalidate},
		{"stale-while-revalidate expired", with(func(m *Meta) { m.SWR = 30 }), "", 1100, Revalidate},
		{"must-revalidate beats stale-while-revalidate", with(func(m *Meta) { m.SWR = 60; m.Flags |= MetaMustRevalidate }), "", 1100, Revalidate},
		{"Age header eats freshness", with(func(m *Meta) { m.Age = 50 }), "", 1015, Revalidate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req *Directives
			if c.req != "" {
				req = reqCC(c.req)
			}
			m := c.m
			if got := Decide(&m, req, c.now); got != c.want {
				t.Errorf("Decide = %v, want %v", got, c.want)
			}
		})
	}
}

func TestServeStaleOnError(t *testing.T) {
	base := Meta{RequestTime: 1000, ResponseTime: 1000, Date: 1000, Lifetime: 60}
	cases := []struct {
		name  string
		sie   int64
		flags uint16
		req   string
		api   int64
		now   int64
		want  bool
	}{
		{"off by default", 0, 0, "", 0, 1100, false},
		{"response window", 100, 0, "", 0, 1100, true},
		{"response window exceeded", 10, 0, "", 0, 1100, false},
		{"request window", 0, 0, "stale-if-error=50", 0, 1100, true},
		{"response window beats request", 10, 0, "stale-if-error=500", 0, 1100, false},
		{"api default", 0, 0, "", 300, 1100, true},
		{"request beats api", 0, 0, "stale-if-error=5", 300, 1100, false},
		{"must-revalidate forbids", 100, MetaMustRevalidate, "", 300, 1100, false},
		{"fresh entry always ok", 0, 0, "", 0, 1010, true},
	}
	for _, c := range cases {
		m := base
		m.SIE, m.Flags = c.sie, c.flags
		var req *Directives
		if c.req != "" {
			req = reqCC(c.req)
		}
		if got := ServeStaleOnError(&m, req, c.now, c.api); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewMetaAndRefresh(t *testing.T) {
	r := resp(t, "Cache-Control: s-maxage=30, stale-while-revalidate=5, stale-if-error=7, public",
		"Date: "+string(AppendHTTPDate(nil, 995)), "Age: 3", "Last-Modified: "+string(AppendHTTPDate(nil, 500)))
	m := NewMeta(r, 200, 990, 1000, 0, false, true)
	want := Meta{RequestTime: 990, ResponseTime: 1000, Date: 995, Age: 3, Lifetime: 30, SWR: 5, SIE: 7, LastModified: 500,
		Flags: MetaMustRevalidate | MetaPublic}
	if m != want {
		t.Fatalf("NewMeta\n got %+v\nwant %+v", m, want)
	}
	// A 304 carrying only max-age: new lifetime and times, Last-Modified kept.
	r304 := resp(t, "Cache-Control: max-age=90")
	m.Refresh(r304, 200, 2000, 2001, 0, false, true)
	if m.Lifetime != 90 || m.ResponseTime != 2001 || m.Date != 2001 || m.LastModified != 500 || m.Flags != 0 || m.CurrentAge(2001) != 1 {
		t.Fatalf("after Refresh: %+v (age %d)", m, m.CurrentAge(2001))
	}
	if h := NewMeta(resp(t), 200, 1, 1, 0, false, true); h.Flags&MetaHeuristic == 0 {
		t.Fatal("no explicit freshness must be marked heuristic")
	}
}

func TestStatusSet(t *testing.T) {
	s := NewStatusSet(100, 200, 599, 600, 99, -1)
	for code, want := range map[int]bool{100: true, 200: true, 599: true, 600: false, 99: false, 201: false, -1: false} {
		if s.Has(code) != want {
			t.Errorf("Has(%d) = %v", code, !want)
		}
	}
	for _, c := range []int{200, 203, 204, 300, 301, 404, 410} {
		if !DefaultStatuses.Has(c) {
			t.Errorf("default set lacks %d", c)
		}
	}
	if DefaultStatuses.Has(206) || DefaultStatuses.Has(500) {
		t.Error("default set too wide")
	}
}

func FuzzResponseFields(f *testing.F) {
	f.Add("Cache-Control", "max-age=5", "Expires", "Sun, 06 Nov 1994 08:49:37 GMT", int64(100), int64(3))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, rt, later int64) {
		if rt < 0 || rt > 1<<40 || later < 0 || later > 1<<40 {
			return
		}
		r := &Response{}
		r.ParseResponseField([]byte(n1), []byte(v1), now2026)
		r.ParseResponseField([]byte(n2), []byte(v2), now2026)
		m := NewMeta(r, 200, rt, rt, 0, false, true)
		if m.Lifetime < 0 || m.Lifetime > MaxDelta {
			t.Fatalf("lifetime %d", m.Lifetime)
		}
		a1, a2 := m.CurrentAge(rt), m.CurrentAge(rt+later)
		if a1 < 0 || a2 < a1 {
			t.Fatalf("age not monotonic: %d then %d", a1, a2)
		}
	})
}
