package proxy

import (
	"net/url"
	"time"

	"github.com/sluicegw/sluice/policy"
	"github.com/sluicegw/sluice/policy/radix"
	"github.com/sluicegw/sluice/store/cache"
	"github.com/valyala/fasthttp"
)

// cachePurge is POST /admin/cache/purge (issue 13), one of:
//
//	?url=/path?query[&host=H][&stage=S]  one URL: every method, consumer, variant and coding
//	?prefix=/path[&group=G|&host=H][&stage=S]  every URL under a path prefix
//	?tag=KEY                               every answer the origin tagged KEY (Surrogate-Key)
//	?all=true                              everything
//
// Without stage, all three stages are purged. The host picks the group the
// way client requests do (the default group when absent).
func (a *Admin) cachePurge(ctx *fasthttp.RequestCtx) {
	store := a.s.CacheStore()
	snap := a.s.Snapshot()
	if store == nil || snap == nil || !a.s.cache.used.Load() {
		writeError(ctx, fasthttp.StatusNotFound, "CacheOff", "no API has a cache", nil)
		return
	}
	args := ctx.QueryArgs()
	now := time.Now().Unix()
	stages := []policy.StageID{policy.StageRelease, policy.StagePre, policy.StageTest}
	if s := args.Peek("stage"); len(s) > 0 {
		st, ok := policy.ParseStage(s)
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, CodeUnknownStage, "unknown stage: want RELEASE, PRE or TEST", nil)
			return
		}
		stages = []policy.StageID{st}
	}
	host := args.Peek("host")
	switch {
	case string(args.Peek("all")) == "true":
		store.PurgeAll()
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"purged": "all"})
	case len(args.Peek("tag")) > 0:
		store.PurgeTag(args.Peek("tag"), now)
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"purged": "tag", "tag": string(args.Peek("tag"))})
	case len(args.Peek("url")) > 0:
		u, err := url.ParseRequestURI(string(args.Peek("url")))
		if err != nil || u.Path == "" {
			writeError(ctx, fasthttp.StatusBadRequest, "InvalidPurge", "url must be a path with an optional query, like /items/1?page=2", nil)
			return
		}
		if len(host) == 0 && u.Host != "" {
			host = []byte(u.Host)
		}
		n := 0
		for _, st := range stages {
			var ps radix.Params
			api, _, res := snap.Match(host, st, strGET, []byte(u.Path), &ps)
			if res != policy.Matched || api.Cache == nil {
				continue
			}
			key, ok := api.Cache.Key.AppendURL(nil, s2b(api.Group.Name), stageKeys[st], []byte(u.Path), []byte(u.RawQuery))
			if ok {
				store.PurgeURL(key, now)
				n++
			}
		}
		if n == 0 {
			writeError(ctx, fasthttp.StatusNotFound, CodeNotFound, "no cached API matches this URL", nil)
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"purged": "url", "url": u.String(), "stages": n})
	case len(args.Peek("prefix")) > 0:
		prefix := args.Peek("prefix")
		group := string(args.Peek("group"))
		if group == "" {
			var ps radix.Params
			if api, _, res := snap.Match(host, stages[0], strGET, prefix, &ps); res != policy.NoRoute && api != nil {
				group = api.Group.Name
			} else if len(snap.Groups) == 1 {
				group = snap.Groups[0].Name
			}
		}
		if group == "" {
			writeError(ctx, fasthttp.StatusBadRequest, "InvalidPurge", "name the group (group=NAME) for a prefix purge", nil)
			return
		}
		for _, st := range stages {
			store.PurgePrefix(cache.AppendPurgePrefix(nil, []byte(group), stageKeys[st], prefix), now)
		}
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"purged": "prefix", "group": group, "prefix": string(prefix)})
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "InvalidPurge", "give one of url, prefix, tag or all=true", nil)
	}
}
