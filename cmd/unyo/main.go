// Command unyo runs a unyo node (`unyo serve`) and is the operator's command
// line. It only wires: see package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/uuid"
	"github.com/unyo-ops/unyo/cli"
	"github.com/unyo-ops/unyo/jobnet"
)

func main() { os.Exit(run()) }

func run() int {
	// A node and an agent start their local jobs under this binary as a
	// shim, so that a job dies with the node (see jobnet.Shim).
	if len(os.Args) > 1 && os.Args[1] == jobnet.ShimCommand {
		return jobnet.RunShim(os.Args[2:])
	}
	// Every syslog line, trap and check result gets a random event id;
	// drawing them from a buffered pool of crypto/rand bytes costs a third
	// of one getrandom call per id. Set once, before anything draws one.
	uuid.EnableRandPool()
	if exe, err := os.Executable(); err == nil {
		jobnet.Shim = exe
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Main(ctx, os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}
