package policy

import (
	"sort"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// BodyOpsConfig is a [groups.apis.transform.request_body] or
// [groups.apis.transform.response_body] table: edits of a JSON body, so a
// legacy backend's shape can be adapted. Fields are named by dotted paths
// ("user.address.city"); a path walks JSON objects only. The operations
// apply in this order: remove, rename, set.
type BodyOpsConfig struct {
	// Remove deletes these fields; an absent field is no error (default []).
	Remove []string `toml:"remove"`
	// Rename moves a field to another path, creating the objects on the
	// way; an absent field is no error (default {}).
	Rename map[string]string `toml:"rename"`
	// Set writes these fields, creating the objects on the way; values are
	// any TOML value (string, number, boolean, array, table) and are written
	// as the JSON equivalent (default {}).
	Set map[string]any `toml:"set"`
	// MaxSize is the largest body edited; a larger one passes untouched and
	// is counted (sluice_body_transforms_total{outcome="too_large"})
	// (default "1MiB", at most "64MiB").
	MaxSize Size `toml:"max_size"`
}

// Body transform limits.
const (
	DefaultBodyTransformMax = 1 << 20
	MaxBodyTransformMax     = 64 << 20
)

// BodyTransform is a compiled body edit. Immutable; safe for concurrent use.
type BodyTransform struct {
	Remove  [][]string
	Rename  []BodyRename
	Set     []BodySet
	MaxSize int
}

// BodyRename moves the field at From to To.
type BodyRename struct{ From, To []string }

// BodySet writes Value (raw JSON) at Path.
type BodySet struct {
	Path  []string
	Value []byte
}

func (c *compiler) bodyOps(key string, b *BodyOpsConfig) *BodyTransform {
	if b == nil {
		return nil
	}
	bt := &BodyTransform{MaxSize: int(b.MaxSize)}
	if b.MaxSize == 0 {
		bt.MaxSize = DefaultBodyTransformMax
	}
	if bt.MaxSize < 1 || bt.MaxSize > MaxBodyTransformMax {
		c.addOnce(key+".max_size", "must be between 1B and 64MiB")
	}
	path := func(k, p string) []string {
		parts := strings.Split(p, ".")
		for _, s := range parts {
			if s == "" {
				c.addOnce(k, "invalid field path "+quote(p)+": want names joined by '.', e.g. \"user.address.city\"")
				return nil
			}
		}
		return parts
	}
	for i, r := range b.Remove {
		if p := path(key+".remove["+itoa(i)+"]", r); p != nil {
			bt.Remove = append(bt.Remove, p)
		}
	}
	for _, from := range sortedKeys(b.Rename) {
		f, t := path(key+".rename."+from, from), path(key+".rename."+from, b.Rename[from])
		if f != nil && t != nil {
			bt.Rename = append(bt.Rename, BodyRename{From: f, To: t})
		}
	}
	names := make([]string, 0, len(b.Set))
	for k := range b.Set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		p := path(key+".set."+n, n)
		if p == nil {
			continue
		}
		v, err := json.MarshalWithOption(b.Set[n], json.DisableHTMLEscape())
		if err != nil {
			c.addOnce(key+".set."+n, "value cannot be written as JSON: "+err.Error())
			continue
		}
		bt.Set = append(bt.Set, BodySet{Path: p, Value: v})
	}
	return bt
}

func itoa(i int) string { return strconv.Itoa(i) }
