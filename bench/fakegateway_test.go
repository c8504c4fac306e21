package bench

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pelletier/go-toml/v2"
	"github.com/valyala/fasthttp"
)

// fakeGatewayConfig is the part of the generated gateway config the fake
// gateway reads. Decoding it also proves the rendered TOML is valid.
type fakeGatewayConfig struct {
	Server struct {
		Listen      []string `toml:"listen"`
		AdminListen string   `toml:"admin_listen"`
	} `toml:"server"`
	Backends []struct {
		Name    string `toml:"name"`
		Targets []struct {
			URL    string `toml:"url"`
			Weight int    `toml:"weight"`
		} `toml:"targets"`
		PoolSize int `toml:"pool_size"`
	} `toml:"backends"`
	Groups []struct {
		Name string `toml:"name"`
		APIs []struct {
			Name        string   `toml:"name"`
			Methods     []string `toml:"methods"`
			Path        string   `toml:"path"`
			Backend     string   `toml:"backend"`
			BackendPath string   `toml:"backend_path"`
		} `toml:"apis"`
	} `toml:"groups"`
}

// fakeGateway stands in for `sluice run -config FILE`: it proxies
// /PREFIX/rest to the first backend's /rest and answers /readyz on the
// admin address, until SIGTERM.
func fakeGateway(args []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "fake gateway: want run -config FILE")
		return 2
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "")
	profile := fs.String("cpuprofile", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *profile != "" {
		// As the real gateway: profile until SIGTERM, written at exit.
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	b, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var cfg fakeGatewayConfig
	if err := toml.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 1
	}
	if len(cfg.Server.Listen) != 1 || len(cfg.Backends) != 1 || len(cfg.Backends[0].Targets) != 1 {
		fmt.Fprintln(os.Stderr, "config: want one listener, one backend with one target")
		return 1
	}
	u, err := url.Parse(cfg.Backends[0].Targets[0].URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hc := &fasthttp.HostClient{Addr: u.Host, MaxConns: cfg.Backends[0].PoolSize}
	data := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		p := ctx.Request.Header.RequestURI()
		i := bytes.IndexByte(p[1:], '/')
		if i < 0 {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		req := &ctx.Request
		req.SetRequestURIBytes(p[i+1:])
		req.Header.SetHost(u.Host)
		if err := hc.Do(req, &ctx.Response); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}}
	admin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/readyz" {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}}
	dln, err := net.Listen("tcp", cfg.Server.Listen[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aln, err := net.Listen("tcp", cfg.Server.AdminListen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go data.Serve(dln)
	go admin.Serve(aln)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return 0
}
