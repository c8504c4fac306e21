package accesslog_test

import (
	"context"
	"net/netip"
	"time"

	"github.com/sluicegw/sluice/proxy/accesslog"
)

// The request path: Reserve when the status is known, fill, Commit.
func Example() {
	l, err := accesslog.New(accesslog.Config{}) // defaults: one stdout sink
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)

	if r := l.Reserve(429); r != nil { // nil: sampled out or ring full (counted)
		r.Time = start.UnixNano()
		r.SetString(accesslog.FieldRequestID, "0f8fad5b")
		r.SetClientAddr(netip.MustParseAddr("192.0.2.7"))
		r.Set(accesslog.FieldMethod, []byte("GET"))
		r.Set(accesslog.FieldHost, []byte("api.example.com"))
		r.Set(accesslog.FieldPath, []byte("/v1/orders"))
		r.SetString(accesslog.FieldErrorCode, "Throttled")
		r.Group, r.Stage, r.API = "shop", "prod", "orders"
		r.Total = 250 * time.Microsecond
		r.Throttle = accesslog.ThrottleLimited
		l.Commit(r) // always, once Reserve returned a record
	}
	l.Shutdown(context.Background())
	// Output:
	// {"time":"2025-01-02T03:04:05.678Z","request_id":"0f8fad5b","trace_id":"","client_ip":"192.0.2.7","method":"GET","host":"api.example.com","path":"/v1/orders","status":429,"error_code":"Throttled","bytes_in":0,"bytes_out":0,"group":"shop","stage":"prod","api":"orders","consumer":"","upstream":"","attempts":0,"latency_us":250,"gateway_us":250,"backend_us":0,"cache":"none","throttle":"limited","auth":"none","user_agent":""}
}
