package jobnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/unyo-ops/unyo/configs"
)

// Task is one attempt of a job, as sent to an executor.
type Task struct {
	Run     string                    `json:"run"`
	Jobnet  string                    `json:"jobnet"`
	Job     string                    `json:"job"`
	Attempt int                       `json:"attempt"`
	Kind    string                    `json:"kind"`
	Command string                    `json:"command,omitempty"`
	Args    []string                  `json:"args,omitempty"`
	Env     map[string]string         `json:"env,omitempty"`
	Dir     string                    `json:"dir,omitempty"`
	Timeout time.Duration             `json:"timeout,omitempty"`
	Cleanup configs.JobCleanup        `json:"cleanup,omitzero"`
	DBMaint configs.JobDBMaint        `json:"db_maintenance,omitzero"`
	Report  configs.JobReport         `json:"report,omitzero"`
	Drill   configs.JobDrill          `json:"drill,omitzero"`
	Rotate  configs.JobRotatePassword `json:"rotate_password,omitzero"`
	Backup  configs.JobBackup         `json:"backup,omitzero"`
	// SealTo (rotate-password on a remote agent) is the cluster's public
	// curve key the agent seals the new passwords to (package rotate):
	// set by the dispatcher, so covered by the task's signature.
	SealTo string `json:"seal_to,omitempty"`
	// Scheduled is when the run was due (its schedule's time, or its
	// start): a report job reports the month before it.
	Scheduled time.Time `json:"scheduled,omitzero"`
}

// Key identifies the attempt: run/job/attempt.
func (t Task) Key() string { return fmt.Sprintf("%s/%s/%d", t.Run, t.Job, t.Attempt) }

// Result is an executor's answer for a Task.
type Result struct {
	Run     string    `json:"run"`
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	Code    int       `json:"code"`
	Output  string    `json:"output,omitempty"` // the tail, capped
	Err     string    `json:"err,omitempty"`    // did not start, timed out, killed
	Killed  bool      `json:"killed,omitempty"`
	Timeout bool      `json:"timeout,omitempty"`
	Where   string    `json:"where,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Refused is set when the agent refused the task instead of running
	// it: the reason (RefusedUnsigned, RefusedBadSignature, ...).
	Refused string `json:"refused,omitempty"`

	local bool // run by this node's engine itself (kept if not committed)
}

// Key identifies the attempt the result is for.
func (r Result) Key() string { return fmt.Sprintf("%s/%s/%d", r.Run, r.Job, r.Attempt) }

// Executor runs a task to its end. Execute blocks; cancelling ctx kills
// the task (Result.Killed).
type Executor interface {
	Execute(ctx context.Context, t Task) Result
}

// OutputCap is how much of a job's output (stdout and stderr together,
// the last bytes) is kept.
const OutputCap = 4 << 10

// KillGrace is how long a process group has between SIGTERM and SIGKILL.
var KillGrace = 2 * time.Second

// Builtin runs a built-in job kind (cleanup, db-maintenance).
type Builtin func(ctx context.Context, t Task) (code int, output string, err error)

// Local runs tasks on this machine: commands in their own process group
// (a timeout or kill ends the whole tree), built-in kinds in process.
type Local struct {
	// Name is reported as Result.Where.
	Name string
	// Builtins by kind (cleanup, db-maintenance); nil: Builtins(nil).
	Builtins map[string]Builtin
}

// Execute implements Executor.
func (l *Local) Execute(ctx context.Context, t Task) Result {
	res := Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Where: l.Name, Started: time.Now().UTC()}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	if t.Kind != "" && t.Kind != configs.JobKindCommand {
		b := l.Builtins[t.Kind]
		if b == nil {
			b = Builtins(nil)[t.Kind]
		}
		if b == nil {
			res.Code, res.Err = -1, fmt.Sprintf("job kind %q cannot run here", t.Kind)
		} else {
			code, out, err := b(ctx, t)
			res.Code, res.Output = code, tail([]byte(out))
			if err != nil {
				res.Err = err.Error()
			}
		}
		l.finish(ctx, &res)
		return res
	}
	res.Code, res.Output, res.Err = runCommand(ctx, t)
	l.finish(ctx, &res)
	return res
}

var errTimeout = errors.New("timeout")

func (l *Local) finish(ctx context.Context, res *Result) {
	res.Ended = time.Now().UTC()
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			res.Timeout, res.Err = true, "timed out; process group killed"
		} else {
			res.Killed, res.Err = true, "killed"
		}
	}
}

func runCommand(ctx context.Context, t Task) (int, string, string) {
	// The death signal is armed for the thread that starts the process:
	// this goroutine keeps that thread until the job has ended, so only
	// the node's death sends it (Go ends a thread only under a locked
	// goroutine that exits; Wait holds a thread anyway).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	shim := Shim
	cmd := exec.Command(t.Command, t.Args...)
	if shim != "" {
		cmd = exec.Command(shim, append([]string{ShimCommand, "--", t.Command}, t.Args...)...)
	}
	cmd.Dir = t.Dir
	cmd.Env = os.Environ()
	for k, v := range t.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "UNYO_RUN="+t.Run, "UNYO_JOB="+t.Job, fmt.Sprintf("UNYO_ATTEMPT=%d", t.Attempt))
	var out capBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The job leads its own process group, and dies when the node does
	// (see Shim): SIGKILL to a job started directly, SIGTERM to the
	// shim, which then kills the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var status *os.File
	if shim != "" {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", shimParentEnv, os.Getpid()))
		r, w, err := os.Pipe()
		if err != nil {
			return -1, "", fmt.Sprintf("start: %v", err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{w}
		status = r
		defer w.Close()
	}
	if err := cmd.Start(); err != nil {
		return -1, "", fmt.Sprintf("start: %v", err)
	}
	if status != nil {
		cmd.ExtraFiles[0].Close() // the shim has it; EOF once it exits
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
		case <-ctx.Done():
			pgid := cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(KillGrace):
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	err := cmd.Wait()
	// The leader of the group is gone; children that kept the output open
	// are killed with the group so Wait does not hang on them (WaitDelay).
	close(done)
	wg.Wait()
	if ctx.Err() != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if status != nil {
		if msg, _ := io.ReadAll(io.LimitReader(status, 4<<10)); len(msg) > 0 {
			return -1, out.String(), "start: " + string(msg)
		}
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		} else {
			return -1, out.String(), err.Error()
		}
	}
	return code, out.String(), ""
}

// capBuffer keeps the last OutputCap bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	buf []byte
	cut bool
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*OutputCap {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-OutputCap:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := tail(b.buf)
	if b.cut && len(b.buf) <= OutputCap {
		s = "…" + s
	}
	return s
}

func tail(b []byte) string {
	if len(b) > OutputCap {
		b = b[len(b)-OutputCap:]
		return "…" + string(bytes.ToValidUTF8(b, nil))
	}
	return string(bytes.ToValidUTF8(b, nil))
}
