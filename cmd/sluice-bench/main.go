// Command sluice-bench is the capacity-planning bench harness: it runs the
// gateway, peer proxies and the origin stub on loopback and measures them.
// All logic lives in package bench; this file only links in the origin stub.
// Run "sluice-bench help" for the commands.
package main

import (
	"os"

	"github.com/sluicegw/sluice/bench"
	"github.com/sluicegw/sluice/bench/origin"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr, startOrigin))
}

// startOrigin adapts origin.Start to bench.OriginStarter.
func startOrigin(addr string) (bench.Origin, error) {
	s, err := origin.Start(addr)
	if err != nil {
		return nil, err
	}
	return s, nil
}
