package cache

import (
	"bytes"
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
)

// Counters for all stores in the process. The lookup step adds stale,
// revalidated and bypass outcomes through the Note* functions, since only it
// knows them.
var (
	hitsTotal        = metrics.NewCounter("sluice_cache_hits_total")
	missesTotal      = metrics.NewCounter("sluice_cache_misses_total")
	staleTotal       = metrics.NewCounter("sluice_cache_stale_total")
	storesTotal      = metrics.NewCounter("sluice_cache_stores_total")
	refusedTooLarge  = metrics.NewCounter("sluice_cache_refused_too_large_total")
	refusedOther     = metrics.NewCounter("sluice_cache_refused_total") // key too long, too many tags
	purgedTotal      = metrics.NewCounter("sluice_cache_purged_total")
	purgeOpsTotal    = metrics.NewCounter("sluice_cache_purge_requests_total")
	collisionsTotal  = metrics.NewCounter("sluice_cache_corrupt_entries_total")
	coalescedTotal   = metrics.NewCounter("sluice_cache_coalesced_total")
	coalesceTimeouts = metrics.NewCounter("sluice_cache_coalesce_timeouts_total")
)

// Occupancy gauges, summed over the live stores (read on scrape only; each
// read takes every fastcache bucket's lock briefly). fastcache evicts whole
// 64 KiB chunks without telling, so evictions show as entries falling while
// stores rise, not as a counter of their own.
var (
	_ = metrics.NewGauge("sluice_cache_entries", func() float64 { e, _, _ := liveStats(); return float64(e) })
	_ = metrics.NewGauge("sluice_cache_bytes", func() float64 { _, b, _ := liveStats(); return float64(b) })
	_ = metrics.NewGauge("sluice_cache_max_bytes", func() float64 { _, _, m := liveStats(); return float64(m) })

	liveStores sync.Map // *Store -> struct{}, from NewStore until Reset
)

func liveStats() (entries, size, maxSize uint64) {
	liveStores.Range(func(k, _ any) bool {
		e, b, m := k.(*Store).Stats()
		entries, size, maxSize = entries+e, size+b, maxSize+m
		return true
	})
	return entries, size, maxSize
}

// NoteStale counts a stale answer served (max-stale, stale-while-revalidate
// or stale-if-error).
func NoteStale() { staleTotal.Inc() }

// Entry is one cached answer, or a variants record (Flags&MetaVariants: the
// Vary names in Header). Decode fills it with slices into the caller's buffer,
// so a decoded Entry is valid only while that buffer is.
type Entry struct {
	Meta
	Status   int
	StoredAt int64  // Unix seconds, the caller's clock when it stored the answer
	ETag     []byte // the validator sent as If-None-Match on revalidation
	Header   []byte // stored response header lines, as the caller encodes them
	Body     []byte
	// Tags is the answer's surrogate keys (a Surrogate-Key value: tokens
	// separated by spaces) for PurgeTag. Set reads it; Decode leaves it nil
	// and fills tagHashes.
	Tags []byte
	// Seq is the fill's start (Store.Seq() read before asking the origin), so
	// a purge that happens while the origin answers also removes the answer
	// being stored. Zero means "now".
	Seq uint64

	urlLen    int
	tagHashes []byte
}

// MaxTags is how many surrogate keys one answer may carry; an answer with
// more is not stored (a tag purge must never miss an entry).
const MaxTags = 32

// MaxKeyLen bounds keys; longer keys are not stored (counted as refused).
const MaxKeyLen = 8 << 10

// Encoding, little-endian, one value per key:
//
//	0 magic 0xC5, 1 version, 2 flags u16, 4 status u16, 6 urlLen u16,
//	8 seq u64, 16 storedAt, 24 requestTime, 32 responseTime, 40 date,
//	48 age, 56 lifetime, 64 swr, 72 sie, 80 lastModified (i64 each),
//	88 ntags u8, 89 pad, 90 etagLen u16, 92 headerLen u32, 96 bodyLen u32,
//	100 tag hashes (8 each), etag, header, body.
//
// A value is never 16 bytes long, which is how GetInto tells a big value's
// 16-byte fastcache metavalue from an inline one.
const (
	magic      = 0xC5
	version    = 1
	headerSize = 100
)

// Options configure a Store. Zero values are usable.
type Options struct {
	// MaxSize is the memory for cached bytes ([cache] max_size; default
	// 64 MiB; fastcache rounds it up to a multiple of 32 MiB).
	MaxSize int
	// MaxObjectSize refuses larger encoded entries (default 8 MiB).
	MaxObjectSize int
	// PurgeRetention is how long purge records are kept (default 24 h, in
	// seconds). When a record expires, every entry stored before it is
	// dropped too, so a purged entry can never come back; see Sweep.
	PurgeRetention int64
	// MaxPurgeRecords bounds each purge index (URLs, tags; default 65536).
	MaxPurgeRecords int
}

// Store keeps cached answers off the Go heap in a fastcache.Cache.
//
// Purges are lazy and O(1): a purge records a sequence number against the
// URL, tag, or prefix, and a lookup drops an entry whose fill sequence is
// older than a matching record. That needs no index from URLs or tags to
// keys (which would hold a heap pointer per entry and cost the collector a
// pointer per cached object); the purge indexes are maps of fixed-size,
// pointer-free values, so the collector never scans their contents.
// Bounds: each map holds at most MaxPurgeRecords records, and records older
// than PurgeRetention are removed by Sweep; in both cases the store's floor
// sequence is raised past the removed records, invalidating every entry
// stored before them. Prefix rules are at most maxPrefixRules; beyond that a
// prefix purge becomes PurgeAll.
//
// A Store survives snapshot reloads (the snapshot holds a handle). Safe for
// concurrent use.
type Store struct {
	c    *fastcache.Cache
	opts Options

	seq   atomic.Uint64 // advances on every purge
	floor atomic.Uint64 // entries with seq < floor are purged

	mu       sync.RWMutex
	urls     map[uint64]purgeRec
	tags     map[uint64]purgeRec
	nRecords atomic.Int64 // len(urls)+len(tags): lets a lookup skip the lock
	prefixes atomic.Pointer[[]prefixRule]

	encPool sync.Pool
}

type purgeRec struct {
	seq uint64
	at  int64
}

type prefixRule struct {
	prefix []byte
	seq    uint64
	at     int64
}

const maxPrefixRules = 64

// NewStore returns an empty store.
func NewStore(o Options) *Store {
	if o.MaxSize <= 0 {
		o.MaxSize = 64 << 20
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 8 << 20
	}
	if o.PurgeRetention <= 0 {
		o.PurgeRetention = 86400
	}
	if o.MaxPurgeRecords <= 0 {
		o.MaxPurgeRecords = 65536
	}
	s := &Store{
		c:    fastcache.New(o.MaxSize),
		opts: o,
		urls: make(map[uint64]purgeRec),
		tags: make(map[uint64]purgeRec),
	}
	s.seq.Store(1)
	liveStores.Store(s, struct{}{})
	return s
}

// Seq is the current purge sequence: read it before a fill and put it in
// Entry.Seq.
func (s *Store) Seq() uint64 { return s.seq.Load() }

// Set stores e under key; urlLen is the length of the key's URL part (from
// KeySpec.AppendKey). It returns false, counting the refusal, when the entry
// is larger than MaxObjectSize (sluice_cache_refused_too_large_total), or the
// key is longer than MaxKeyLen or the answer carries more than MaxTags
// surrogate keys (sluice_cache_refused_total). Set is not on the hit path but does not
// allocate in steady state either (pooled encode buffer).
func (s *Store) Set(key []byte, urlLen int, e *Entry) bool {
	ntags := countTags(e.Tags)
	size := headerSize + 8*ntags + len(e.ETag) + len(e.Header) + len(e.Body)
	if size > s.opts.MaxObjectSize {
		refusedTooLarge.Inc()
		return false
	}
	if len(key) > MaxKeyLen || ntags > MaxTags || len(e.ETag) > 0xFFFF || urlLen < 0 || urlLen > len(key) {
		refusedOther.Inc()
		return false
	}
	bp, _ := s.encPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	seq := e.Seq
	if seq == 0 {
		seq = s.seq.Load()
	}
	b = append(b, magic, version)
	b = binary.LittleEndian.AppendUint16(b, e.Flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(e.Status))
	b = binary.LittleEndian.AppendUint16(b, uint16(urlLen))
	b = binary.LittleEndian.AppendUint64(b, seq)
	for _, x := range [...]int64{e.StoredAt, e.RequestTime, e.ResponseTime, e.Date, e.Age, e.Lifetime, e.SWR, e.SIE, e.LastModified} {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	b = append(b, byte(ntags), 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.ETag)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Header)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Body)))
	b = appendTagHashes(b, e.Tags)
	b = append(b, e.ETag...)
	b = append(b, e.Header...)
	b = append(b, e.Body...)
	// fastcache.Set drops pairs that do not fit one 64 KiB chunk with its
	// 4-byte length prefix; those go through the big-value API.
	if 4+len(key)+len(b) < 64<<10 {
		s.c.Set(key, b)
	} else {
		s.c.SetBig(key, b)
	}
	storesTotal.Inc()
	if cap(b) <= 1<<20 { // do not pin huge buffers in the pool
		*bp = b
		s.encPool.Put(bp)
	}
	return true
}

func countTags(t []byte) int {
	n, in := 0, false
	for _, c := range t {
		sp := c == ' ' || c == '\t' || c == ','
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return n
}

func appendTagHashes(b, t []byte) []byte {
	i := 0
	for i < len(t) {
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == ',') {
			i++
		}
		j := i
		for j < len(t) && t[j] != ' ' && t[j] != '\t' && t[j] != ',' {
			j++
		}
		if j > i {
			b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(t[i:j]))
		}
		i = j
	}
	return b
}

// GetInto appends the entry stored under key to dst and returns dst; decode
// the appended bytes (from the old len(dst)) with Entry.Decode. A hit
// allocates nothing when dst has room for the value. An entry removed by a
// purge is deleted and reported as a miss.
func (s *Store) GetInto(dst, key []byte) ([]byte, bool) {
	start := len(dst)
	v, ok := s.c.HasGet(dst, key)
	if ok && len(v)-start == 16 {
		v = s.c.GetBig(v[:start], key)
		ok = len(v) > start
	}
	if !ok || len(v)-start < headerSize || v[start] != magic || v[start+1] != version {
		if ok {
			collisionsTotal.Inc()
		}
		missesTotal.Inc()
		return v[:start], false
	}
	if s.purged(key, v[start:]) {
		s.c.Del(key)
		purgedTotal.Inc()
		missesTotal.Inc()
		return v[:start], false
	}
	hitsTotal.Inc()
	return v, true
}

// purged checks the entry's fill sequence against the floor and the purge
// records. The common case (no purges recorded) costs three atomic loads.
func (s *Store) purged(key, v []byte) bool {
	seq := binary.LittleEndian.Uint64(v[8:])
	if seq < s.floor.Load() {
		return true
	}
	if p := s.prefixes.Load(); p != nil {
		for i := range *p {
			r := &(*p)[i]
			if seq < r.seq && bytes.HasPrefix(key, r.prefix) {
				return true
			}
		}
	}
	if s.nRecords.Load() == 0 {
		return false
	}
	urlLen := int(binary.LittleEndian.Uint16(v[6:]))
	if urlLen > len(key) {
		return true
	}
	uh := xxhash.Sum64(key[:urlLen])
	ntags := int(v[88])
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.urls[uh]; ok && seq < r.seq {
		return true
	}
	if len(s.tags) > 0 {
		for i := 0; i < ntags && headerSize+8*i+8 <= len(v); i++ {
			if r, ok := s.tags[binary.LittleEndian.Uint64(v[headerSize+8*i:])]; ok && seq < r.seq {
				return true
			}
		}
	}
	return false
}

// Decode fills e from a value GetInto returned (the bytes it appended). It
// returns false for a value that is not a well-formed entry.
func (e *Entry) Decode(v []byte) bool {
	if len(v) < headerSize || v[0] != magic || v[1] != version {
		return false
	}
	le := binary.LittleEndian
	e.Flags = le.Uint16(v[2:])
	e.Status = int(le.Uint16(v[4:]))
	e.urlLen = int(le.Uint16(v[6:]))
	e.Seq = le.Uint64(v[8:])
	e.StoredAt = int64(le.Uint64(v[16:]))
	e.RequestTime = int64(le.Uint64(v[24:]))
	e.ResponseTime = int64(le.Uint64(v[32:]))
	e.Date = int64(le.Uint64(v[40:]))
	e.Age = int64(le.Uint64(v[48:]))
	e.Lifetime = int64(le.Uint64(v[56:]))
	e.SWR = int64(le.Uint64(v[64:]))
	e.SIE = int64(le.Uint64(v[72:]))
	e.LastModified = int64(le.Uint64(v[80:]))
	ntags := int(v[88])
	el := int(le.Uint16(v[90:]))
	hl := int(le.Uint32(v[92:]))
	bl := int(le.Uint32(v[96:]))
	p := headerSize
	if ntags*8+el+hl+bl != len(v)-p {
		return false
	}
	e.tagHashes = v[p : p+8*ntags]
	p += 8 * ntags
	e.ETag = v[p : p+el : p+el]
	p += el
	e.Header = v[p : p+hl : p+hl]
	p += hl
	e.Body = v[p : p+bl : p+bl]
	e.Tags = nil
	return true
}

// Delete removes one key (an unsafe method's own entry, a refreshed variant).
func (s *Store) Delete(key []byte) { s.c.Del(key) }

// PurgeURL removes every entry whose key's URL part is url (all methods,
// consumers and variants): the bytes KeySpec.AppendURL builds. It also
// serves RFC 9111 §4.4 invalidation after an unsafe method. now is Unix
// seconds.
func (s *Store) PurgeURL(url []byte, now int64) {
	purgeOpsTotal.Inc()
	h := xxhash.Sum64(url)
	s.mu.Lock()
	s.urls[h] = purgeRec{seq: s.seq.Add(1), at: now}
	s.boundLocked(s.urls)
	s.nRecords.Store(int64(len(s.urls) + len(s.tags)))
	s.mu.Unlock()
}

// PurgeTag removes every entry stored with surrogate key tag.
func (s *Store) PurgeTag(tag []byte, now int64) {
	purgeOpsTotal.Inc()
	h := xxhash.Sum64(tag)
	s.mu.Lock()
	s.tags[h] = purgeRec{seq: s.seq.Add(1), at: now}
	s.boundLocked(s.tags)
	s.nRecords.Store(int64(len(s.urls) + len(s.tags)))
	s.mu.Unlock()
}

// PurgePrefix removes every entry whose key starts with prefix (build it
// with AppendPurgePrefix). Beyond maxPrefixRules live rules it purges
// everything instead.
func (s *Store) PurgePrefix(prefix []byte, now int64) {
	purgeOpsTotal.Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []prefixRule
	if p := s.prefixes.Load(); p != nil {
		old = *p
	}
	if len(old) >= maxPrefixRules {
		s.purgeAllLocked()
		return
	}
	rules := make([]prefixRule, 0, len(old)+1)
	rules = append(rules, old...)
	rules = append(rules, prefixRule{prefix: bytes.Clone(prefix), seq: s.seq.Add(1), at: now})
	s.prefixes.Store(&rules)
}

// PurgeAll empties the store.
func (s *Store) PurgeAll() {
	purgeOpsTotal.Inc()
	s.mu.Lock()
	s.purgeAllLocked()
	s.mu.Unlock()
}

func (s *Store) purgeAllLocked() {
	// The floor catches fills that began before the reset and store after it.
	s.floor.Store(s.seq.Add(1))
	s.c.Reset()
	clear(s.urls)
	clear(s.tags)
	s.nRecords.Store(0)
	s.prefixes.Store(nil)
}

// Sweep drops purge records older than PurgeRetention at now, raising the
// floor past them. Purge calls sweep by themselves when a map is full; call
// Sweep periodically (e.g. every minute) to keep lookups on the no-record
// fast path.
func (s *Store) Sweep(now int64) {
	cut := now - s.opts.PurgeRetention
	s.mu.Lock()
	defer s.mu.Unlock()
	floor := s.floor.Load()
	for _, m := range [...]map[uint64]purgeRec{s.urls, s.tags} {
		for k, r := range m {
			if r.at < cut {
				floor = max(floor, r.seq)
				delete(m, k)
			}
		}
	}
	if p := s.prefixes.Load(); p != nil {
		var keep []prefixRule
		for _, r := range *p {
			if r.at < cut {
				floor = max(floor, r.seq)
			} else {
				keep = append(keep, r)
			}
		}
		if len(keep) != len(*p) {
			if len(keep) == 0 {
				s.prefixes.Store(nil)
			} else {
				s.prefixes.Store(&keep)
			}
		}
	}
	s.floor.Store(floor)
	s.nRecords.Store(int64(len(s.urls) + len(s.tags)))
}

// boundLocked keeps m within MaxPurgeRecords: the older half of the records
// goes, and the floor rises to the newest of them.
func (s *Store) boundLocked(m map[uint64]purgeRec) {
	if len(m) <= s.opts.MaxPurgeRecords {
		return
	}
	seqs := make([]uint64, 0, len(m))
	for _, r := range m {
		seqs = append(seqs, r.seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	median := seqs[len(seqs)/2]
	for k, r := range m {
		if r.seq <= median {
			delete(m, k)
		}
	}
	if median > s.floor.Load() {
		// Entries filled before the dropped purges may still hold purged
		// bytes: drop everything that old.
		s.floor.Store(median)
	}
}

// Stats reports the fastcache occupancy (for gauges and tests).
func (s *Store) Stats() (entries, bytesSize, maxBytes uint64) {
	var st fastcache.Stats
	s.c.UpdateStats(&st)
	return st.EntriesCount, st.BytesSize, st.MaxBytesSize
}

// Reset frees the cache's memory and drops the store from the gauges; the
// store must not be used afterwards.
func (s *Store) Reset() {
	liveStores.Delete(s)
	s.c.Reset()
}
