// Package cache is the storage half of Sluice's HTTP response cache (issue
// 13): RFC 9111 parsing and freshness rules for a shared cache, cache keys,
// a memory-bounded store off the Go heap (fastcache) with purges, and request
// coalescing. The pipeline steps (lookup at step 7, store in the response
// phase, admin purge) live in proxy/ and call the functions below; nothing
// here touches the network.
//
// # State
//
// A Store and a Coalescer outlive snapshots: create them once per process (or
// per [cache] section) and let compiled APIs hold handles. A KeySpec is
// compiled per API per snapshot. All three are safe for concurrent use.
// Times are Unix seconds from a coarse clock; sequence numbers come from
// Store.Seq.
//
// # Lookup (request step 7)
//
//	req := Directives{}; ParseCacheControl(&req, cacheControlHeader)
//	key, urlLen, ok := spec.AppendKey(buf[:0], &KeyInput{...})  // !ok: bypass
//	v, hit := store.GetInto(valBuf[:0], key)
//	if hit, e.Decode(v), e.Flags&MetaVariants != 0:
//	    // a variants record: Header holds the Vary names
//	    consumer := id unless e.Flags&MetaPerConsumer == 0
//	    vkey, _ := AppendVariantKey(buf2[:0], key, e.Header, consumer, &ctx.Request.Header)
//	    v, hit = store.GetInto(valBuf[:0], vkey)
//	on a hit: switch Decide(&e.Meta, &req, now):
//	    Fresh, StaleOK       -> answer from e (Age: e.CurrentAge(now)); NoteStale() for StaleOK
//	    StaleRevalidate      -> answer from e, NoteStale(), refresh in the background
//	    Revalidate           -> forward with If-None-Match: e.ETag /
//	                            If-Modified-Since: e.LastModified; on an origin
//	                            failure serve e if ServeStaleOnError(...)
//	on a miss: f, leader := co.Join(key); a leader looks up once more, fills,
//	    then co.Done(f); a waiter calls co.Wait(f, maxWait) and looks up again,
//	    going to the origin itself when that returns false or still misses.
//
// # Store (response phase)
//
//	seq := store.Seq()    // read BEFORE forwarding, so a purge during the fill wins
//	var r Response; r.ParseResponseField(name, value, now) for each header line
//	if MayStore(&StoreInput{...}) == Storable:
//	    m := NewMeta(&r, status, requestTime, responseTime, ttl, override, heuristic)
//	    perConsumer := API authenticates && m.Flags&MetaPublic == 0
//	    if vary != "" || perConsumer:
//	        store.Set(key, urlLen, &Entry{Meta: Meta{Flags: MetaVariants|perConsumerFlag}, Header: vary, Seq: seq})
//	        key = AppendVariantKey(..., key, vary, consumer or nil, reqHeader)
//	    store.Set(key, urlLen, &Entry{Meta: m, Status: status, ETag: etag,
//	        Header: headerLines, Body: body, Tags: surrogateKeyValue, Seq: seq})
//
// A 304 from revalidation refreshes the stored entry: decode it, call
// e.Meta.Refresh with the 304's fields, and Set it again under the same key
// (Set copies, so e's slices may point into the lookup buffer).
//
// # Purge
//
// PurgeURL(spec.AppendURL(host, stage, path, query)) removes one URL with all
// its methods, consumers and variants; also use it for RFC 9111 §4.4
// invalidation after an unsafe method (InvalidatesOnUnsafe). PurgePrefix
// takes AppendPurgePrefix(host, stage, pathPrefix); PurgeTag a surrogate key;
// PurgeAll everything. Purges are lazy (see Store); call Store.Sweep(now)
// about once a minute.
package cache
