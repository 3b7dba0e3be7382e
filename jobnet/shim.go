package jobnet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ShimCommand is the first argument that makes the unyo binary a job
// shim (see RunShim); the command line dispatches on it before anything
// else. It is not a documented command.
const ShimCommand = "job-shim"

// Shim is the executable that runs local jobs under a shim (the unyo
// binary: its main sets it to os.Executable). Empty: jobs are started
// directly; they still get SIGKILL when the node's thread that started
// them dies, but their children do not.
//
// Why: a node killed with SIGKILL cannot kill its jobs, and a job left
// running is marked lost by the next leader and may be run again by an
// operator while it still runs. The shim is the leader of the job's
// process group and the kernel signals it when the node dies
// (PR_SET_PDEATHSIG); it then kills the whole group, the job and every
// process it started that stayed in the group.
var Shim string

// shimParentEnv carries the node's pid to the shim, which gives up at
// once if it already has another parent (the node died before the
// death signal was armed).
const shimParentEnv = "UNYO_JOB_SHIM_PARENT"

// shimStartFailed is the shim's exit code when the command did not
// start; the reason is written to fd 3.
const shimStartFailed = 127

// RunShim is the job shim's main: args are "--", the command and its
// arguments. It runs the command in its own process group (which the
// node made when it started the shim) and exits with the command's exit
// code, 128+N when it was killed by signal N. When its parent dies it
// kills the group with SIGKILL; a SIGTERM or SIGINT from the node (a
// kill or a timeout, sent to the whole group) reaches the command too
// and the shim waits for it to end.
func RunShim(args []string) int {
	if len(args) < 2 || args[0] != "--" {
		fmt.Fprintln(os.Stderr, "unyo job-shim: usage: unyo job-shim -- COMMAND [ARG...] (started by a node, not by hand)")
		return 2
	}
	ppid := os.Getppid()
	if want := os.Getenv(shimParentEnv); want != "" && want != strconv.Itoa(ppid) {
		_ = syscall.Kill(0, syscall.SIGKILL) // the node is gone already
		return 137
	}
	status := os.NewFile(3, "status")
	if status != nil {
		syscall.CloseOnExec(3) // the job does not inherit it
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, shimParentEnv+"=") })
	if err := cmd.Start(); err != nil {
		if status != nil {
			_, _ = io.WriteString(status, err.Error())
		}
		return shimStartFailed
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			return exitCode(err)
		case <-sigs:
			if os.Getppid() != ppid {
				// The node died (the death signal, or any signal after
				// it): nothing will report on this job; it goes with it.
				_ = syscall.Kill(0, syscall.SIGKILL)
			}
			// Else a kill or timeout from the node, sent to the whole
			// group (the command has it too), or the death of the
			// node's thread that started the shim while the node lives
			// on: wait for the command.
		}
	}
}

// exitCode is a Wait error as an exit code: 128+N for signal N.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}
