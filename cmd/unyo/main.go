// Command unyo runs a unyo node (`unyo serve`) and is the operator's command
// line. It only wires: see package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/unyo-ops/unyo/cli"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Main(ctx, os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}
