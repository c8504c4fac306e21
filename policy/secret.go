package policy

import (
	"errors"
	"os"
	"strings"
)

// ResolveSecret reads a secret written inline, as "env:NAME" or as
// "file:/path" (trailing newline trimmed). Errors never contain the value.
func ResolveSecret(ref string) ([]byte, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return nil, errors.New("environment variable " + name + " is not set or empty")
		}
		return []byte(v), nil
	case strings.HasPrefix(ref, "file:"):
		path := strings.TrimPrefix(ref, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, errors.New("cannot read secret file " + path + ": " + errors.Unwrap(err).Error())
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, errors.New("secret file " + path + " is empty")
		}
		return b, nil
	}
	return []byte(ref), nil
}
