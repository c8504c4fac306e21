package policy

import (
	"reflect"
	"strings"
)

// schemaKeys lists every TOML key name of the Config schema.
func schemaKeys() []string {
	seen := map[string]bool{}
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if tag == "" && f.Anonymous {
				walk(f.Type) // embedded tables share their parent's keys
				continue
			}
			if tag == "" || tag == "-" {
				continue
			}
			if !seen[tag] {
				seen[tag] = true
				keys = append(keys, tag)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Config{}))
	return keys
}
