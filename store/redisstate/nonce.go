package redisstate

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluicegw/sluice/store/nonce"
)

// Nonces is a nonce.Store shared by the fleet: a nonce recorded on one node
// is a replay on every other. Each key is written with SET key 1 NX PX
// window, so Redis both answers and expires it. This is the one Redis call
// on the request path, because a replay must be refused before forwarding;
// it waits at most the Conn's Timeout.
//
// Every key is also recorded in a local store first, which answers repeats
// on the same node without a round trip and keeps protecting this node's
// own nonces during an outage. When Redis fails or times out (or the
// breaker is open) the local answer stands and the decision is counted in
// sluice_redis_nonce_fallback_total: during an outage a nonce first used on
// another node can be replayed here, which is the documented cost of not
// refusing every signed request while Redis is down.
//
// Safe for concurrent use; it outlives snapshots. Unlike nonce.Local, a
// call that reaches Redis allocates (the command and its deadline).
type Nonces struct {
	conn   *Conn
	local  nonce.Store
	prefix string
}

var _ nonce.Store = (*Nonces)(nil)

// NewNonces builds a Nonces on c with local as the fallback (nil: a
// nonce.Local with default size).
func NewNonces(c *Conn, local nonce.Store) *Nonces {
	if local == nil {
		local = nonce.NewLocal(nonce.Config{})
	}
	return &Nonces{conn: c, local: local, prefix: c.Prefix() + "n:"}
}

// Seen implements nonce.Store.
func (n *Nonces) Seen(now int64, key []byte, window time.Duration) bool {
	if window <= 0 {
		return false
	}
	if n.local.Seen(now, key, window) {
		return true
	}
	cl := n.conn.Client()
	if cl == nil || !n.conn.Healthy() {
		nonceFallback.Inc()
		return false
	}
	ms := int64(window / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.conn.Timeout())
	start := time.Now()
	r := cl.Do(ctx, cl.B().Set().Key(n.prefix+string(key)).Value("1").Nx().PxMilliseconds(ms).Build())
	cancel()
	err := r.Error()
	if rueidis.IsRedisNil(err) {
		// SET NX answers nil when the key exists: a replay.
		n.conn.observe(start, 1, nil)
		return true
	}
	if n.conn.observe(start, 1, err) != nil {
		nonceFallback.Inc()
		return false
	}
	return false
}
