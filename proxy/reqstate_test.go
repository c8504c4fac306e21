package proxy

import (
	"testing"

	"github.com/sluicegw/sluice/policy"
)

// TestResetCleansWhatARequestWrote: reset zeroes only the per-request fields
// and the cache state after an API that may have written it; whatever a
// request left must not reach the next one.
func TestResetCleansWhatARequestWrote(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  *policy.API
	}{
		{"cache", &policy.API{Cache: &policy.Cache{}}},
		{"compression", &policy.API{Compression: &policy.Compression{}}},
		{"unsafe method on a plain API", &policy.API{}},
	} {
		st := acquireReqState()
		st.api = tc.api
		st.c.out, st.c.fill, st.c.unsafe, st.c.enc = cacheHit, true, true, policy.EncodingGzip
		st.c.key = append(st.c.key, "k"...)
		st.forwarded, st.idLen, st.seen, st.errCode = true, 9, 0, "x"
		st.params.Reset()
		st.reset()
		if st.c.out != cacheNone || st.c.fill || st.c.unsafe || st.c.enc != policy.EncodingIdentity || len(st.c.key) != 0 {
			t.Errorf("%s: cache state survived reset: %+v", tc.name, st.c)
		}
		if st.api != nil || st.forwarded || st.idLen != 0 || st.seen != seenAll || st.errCode != "" || st.params.Len() != 0 {
			t.Errorf("%s: request fields survived reset", tc.name)
		}
		releaseReqState(st)
	}
}
