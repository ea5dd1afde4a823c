// Command moreweb serves the web sites that one TOML file declares.
//
//	moreweb -c site.toml      run the sites; saving the file reloads it
//	moreweb -t -c site.toml   check the file and exit
//	moreweb                   serve the current directory on 127.0.0.1:8080
//	moreweb dev-cert          make a local certificate for *.localhost
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/moreweb/moreweb/config"
	"github.com/moreweb/moreweb/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "dev-cert" {
		return devCert(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("moreweb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath  = fs.String("c", "", "the config `file` (TOML); without it, serve -root on -listen")
		checkOnly   = fs.Bool("t", false, "check the config file and exit: 0 and \"configuration ok\", or 1 and every error")
		showVersion = fs.Bool("version", false, "print the version and exit")
		root        = fs.String("root", ".", "with no -c: the `directory` to serve, with listing")
		listen      = fs.String("listen", "127.0.0.1:8080", "with no -c: the `address` to listen on")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile to `file` from start to stop (for go tool pprof)")
		memProfile  = fs.String("memprofile", "", "write an allocation profile to `file` at stop")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: moreweb [-c site.toml] [-t] [-version] [-root DIR] [-listen ADDR]\n"+
			"       moreweb dev-cert [-dir DIR] [NAME ...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "moreweb: unexpected argument %q (the config file goes after -c)\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "moreweb %s\n", version)
		return 0
	}
	if *checkOnly && *configPath == "" {
		fmt.Fprintln(stderr, "moreweb: -t needs -c FILE")
		return 2
	}

	load := func() (*config.Config, error) { return config.Load(*configPath) }
	reload := server.LoadFile(*configPath)
	if *configPath == "" {
		load = func() (*config.Config, error) { return config.ZeroConfig(*root, *listen) }
		reload = load
	}
	cfg, err := load()
	if *checkOnly {
		if err != nil {
			fmt.Fprintln(stdout, err)
			return 1
		}
		if err := server.Check(cfg); err != nil {
			fmt.Fprintln(stdout, err)
			return 1
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}

	// Signals are caught before the sockets open: a SIGTERM that arrives
	// as soon as the port answers must stop the server gracefully, not
	// kill it with the default action.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(signals)
	srv, err := server.Start(cfg, server.Options{Reload: reload, Log: stderr, Version: version})
	if err != nil {
		fmt.Fprintf(stderr, "moreweb: %v\n", err)
		return 1
	}
	stopProfiles, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		fmt.Fprintf(stderr, "moreweb: %v\n", err)
		return 1
	}
	defer stopProfiles()
	// With a config file, saving it reloads it, as SIGHUP does.
	var changes <-chan struct{}
	if *configPath != "" {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		changes = srv.Watch(ctx, *configPath, config.DefaultDebounce)
	}
	return srv.Serve(signals, changes)
}
