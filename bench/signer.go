package bench

import "github.com/valyala/fasthttp"

// Signer authenticates one outgoing request just before it is sent: it sets
// whatever headers (Authorization, Date, X-Signature, ...) the scenario's
// authentication scheme needs. seq is the request's sequence number within the
// run, unique per run, usable as a nonce. A Signer is called from many worker
// goroutines at once and must be safe for concurrent use; it should not
// allocate per call, because its cost is charged to the load generator, whose
// core is shared with the origin stub.
//
// An error aborts that one request and is counted as error kind "sign".
type Signer func(req *fasthttp.Request, seq uint64) error
