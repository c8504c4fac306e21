package proxy

import "fmt"

// sprintf is only for cold paths (debug logging); the request path never formats.
func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
