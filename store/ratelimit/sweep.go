package ratelimit

import "time"

// Sweep drops every key that has been full (buckets) or whose window has
// been over (quotas) for at least the store's IdleTimeout at now, and
// returns how many it dropped. The sweeper goroutine calls it; tests call it
// with a fake clock. Each shard is locked in turn, which delays only key
// creation in that shard: lookups of existing keys never wait.
func (st *Local) Sweep(now int64) int {
	total := 0
	for i := range st.shards {
		s := &st.shards[i]
		s.mu.Lock()
		n := s.sweepLocked(now, st.idle)
		s.mu.Unlock()
		st.releaseKeys(n)
		total += n
	}
	return total
}

func (st *Local) sweeper(every time.Duration) {
	defer close(st.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			st.Sweep(st.clock())
		}
	}
}
