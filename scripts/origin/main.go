// Command origin runs the bench origin stub (bench/origin) as its own
// process, for scripts that pin it to a core: `go run ./scripts/origin
// -addr 127.0.0.1:0`. It prints "listening ADDR" once it accepts and
// serves until SIGTERM or SIGINT. Loopback only.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicegw/sluice/bench/origin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	flag.Parse()
	o, err := origin.Start(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "origin:", err)
		os.Exit(1)
	}
	fmt.Println("listening", o.Addr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	_ = o.Close()
	fmt.Fprintf(os.Stderr, "origin: stopped after %d requests\n", o.Requests())
}
