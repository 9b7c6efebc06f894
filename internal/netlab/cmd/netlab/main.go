//go:build linux

// Command netlab regenerates teardown's capture lab: real captures of every
// way a TCP connection ends, made by Linux kernels in network namespaces,
// each with its NAME.expect.json. It needs root.
//
//	go run ./internal/netlab/cmd/netlab -out testdata/pcaps [scenario ...]
//	go run ./internal/netlab/cmd/netlab -list
package main

import (
	"flag"
	"fmt"
	"os"

	"teardown/internal/netlab"
)

func main() {
	out := flag.String("out", "testdata/pcaps", "directory for the captures and expectation files")
	list := flag.Bool("list", false, "list the scenarios and exit")
	quiet := flag.Bool("q", false, "print nothing but errors")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: netlab [-out DIR] [-list] [-q] [scenario ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *list {
		for _, s := range netlab.Scenarios() {
			fmt.Printf("%-22s %s\n", s.Name, s.Description)
		}
		return
	}
	os.Exit(run(*out, flag.Args(), *quiet))
}

func run(out string, names []string, quiet bool) (code int) {
	if err := netlab.Available(); err != nil {
		fmt.Fprintln(os.Stderr, "netlab:", err)
		return 2
	}
	netlab.HandleSignals()
	defer func() {
		if p := recover(); p != nil {
			netlab.CloseAll()
			fmt.Fprintln(os.Stderr, "netlab: panic:", p)
			code = 1
		}
	}()
	if gone, err := netlab.CleanStale(); err != nil {
		fmt.Fprintln(os.Stderr, "netlab:", err)
	} else if len(gone) > 0 && !quiet {
		fmt.Fprintf(os.Stderr, "netlab: removed %d stale namespaces of a crashed run\n", len(gone))
	}
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	if quiet {
		logf = nil
	}
	if err := netlab.Generate(out, names, logf); err != nil {
		netlab.CloseAll()
		fmt.Fprintln(os.Stderr, "netlab:", err)
		return 1
	}
	return 0
}
