//go:build linux && !race

package proxy

import (
	"io"
	"testing"
)

// Read and Write are on every request's path, both directions: no
// allocation per call (the syscall functions are bound once per conn).
func TestRawConnZeroAllocs(t *testing.T) {
	client, server := rawPair(t)
	msg := make([]byte, 512)
	back := make([]byte, 512)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, back); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("rawConn Write+Read: %v allocs per call, want 0", allocs)
	}
}
