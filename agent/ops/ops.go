package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/jobnet"
)

// Operations.
const (
	OpSysinfo   = "sysinfo"
	OpHardware  = "hardware"
	OpSoftware  = "software"
	OpProcesses = "processes"
	OpSearch    = "files.search"
	OpView      = "files.view"
	OpCommand   = "command"
)

// Known reports whether op is an operation.
func Known(op string) bool {
	switch op {
	case OpSysinfo, OpHardware, OpSoftware, OpProcesses, OpSearch, OpView, OpCommand:
		return true
	}
	return false
}

// Limits.
const (
	MaxView      = 1 << 20
	MaxSearch    = 1000
	MaxOutput    = 256 << 10
	MaxProcesses = 5000
	MaxRequest   = 64 << 10
	// Domain is the signing domain of requests (jobnet.Signer.SignBytes).
	Domain = "op"
)

// Request is one operation for one agent.
type Request struct {
	ID      string    `json:"id"`
	Agent   string    `json:"agent"`
	Op      string    `json:"op"`
	Path    string    `json:"path,omitempty"`    // files.view; files.search: the directory
	Pattern string    `json:"pattern,omitempty"` // files.search: a glob on names
	Argv    []string  `json:"argv,omitempty"`    // command
	Actor   string    `json:"actor"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	// Timeout of a command (default 30s, at most 10m).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Packages is the inventory's package command (software).
	Packages []string `json:"-"`
}

// Envelope carries a signed request.
type Envelope struct {
	Payload []byte `json:"payload"`
	KeyID   string `json:"key_id"`
	Sig     []byte `json:"sig"`
}

// Result is the agent's answer.
type Result struct {
	OK        bool            `json:"ok"`
	Error     string          `json:"error,omitempty"`
	Refused   bool            `json:"refused,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
	ExitCode  int             `json:"exit_code,omitempty"`
}

// Sign makes the envelope of r.
func Sign(s *jobnet.Signer, r Request) ([]byte, error) {
	p, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	id, sig := s.SignBytes(Domain, p)
	return json.Marshal(Envelope{Payload: p, KeyID: id, Sig: sig})
}

// Handler runs requests on the agent.
type Handler struct {
	Name  string
	Trust *jobnet.Verifier
	// Roots are the directories files may be searched and viewed in.
	Roots []string
	// PackagesCommand as inventory.Options.
	PackagesCommand []string
	Now             func() time.Time
}

// ErrRefused is the error of a request the agent refuses.
var ErrRefused = errors.New("refused")

// Open checks an envelope and returns its request.
func (h *Handler) Open(data []byte) (Request, error) {
	var r Request
	if len(data) > MaxRequest {
		return r, fmt.Errorf("%w: request of %d bytes", ErrRefused, len(data))
	}
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return r, fmt.Errorf("%w: not a signed request", ErrRefused)
	}
	if err := h.Trust.VerifyBytes(Domain, env.KeyID, env.Payload, env.Sig); err != nil {
		return r, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := json.Unmarshal(env.Payload, &r); err != nil {
		return r, fmt.Errorf("%w: payload: %w", ErrRefused, err)
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	switch {
	case r.Agent != h.Name:
		return r, fmt.Errorf("%w: signed for agent %q, not %q", ErrRefused, r.Agent, h.Name)
	case !now.Before(r.Expires):
		return r, fmt.Errorf("%w: expired at %s", ErrRefused, r.Expires.Format(time.RFC3339))
	case r.Issued.After(now.Add(jobnet.MaxClockSkew)):
		return r, fmt.Errorf("%w: issued in the future", ErrRefused)
	}
	return r, nil
}

// Handle answers one envelope.
func (h *Handler) Handle(ctx context.Context, data []byte) Result {
	r, err := h.Open(data)
	if err != nil {
		return Result{Refused: true, Error: err.Error()}
	}
	return h.Run(ctx, r)
}

// Run runs a verified request.
func (h *Handler) Run(ctx context.Context, r Request) Result {
	var (
		v   any
		err error
		res Result
	)
	switch r.Op {
	case OpSysinfo, OpHardware, OpSoftware:
		var inv inventory.Inventory
		inv, err = inventory.Collect(ctx, inventory.Options{PackagesCommand: h.PackagesCommand})
		switch r.Op {
		case OpSysinfo:
			v = map[string]any{"hostname": inv.Hostname, "host_id": inv.HostID, "os": inv.OS, "memory_bytes": inv.MemoryBytes,
				"cpus": inv.CPUs, "serials": inv.Serials}
		case OpHardware:
			v = map[string]any{"cpus": inv.CPUs, "memory_bytes": inv.MemoryBytes, "disks": inv.Disks, "nics": inv.NICs, "serials": inv.Serials}
		default:
			v = map[string]any{"os": inv.OS, "packages": inv.Packages, "listening": inv.Listening}
		}
	case OpProcesses:
		v, res.Truncated, err = processes(ctx)
	case OpSearch:
		v, res.Truncated, err = h.search(r.Path, r.Pattern)
	case OpView:
		v, res.Truncated, err = h.view(r.Path)
	case OpCommand:
		v, res.ExitCode, res.Truncated, err = command(ctx, r)
	default:
		err = fmt.Errorf("%w: unknown operation %q", ErrRefused, r.Op)
	}
	if err != nil {
		return Result{Error: err.Error(), Refused: errors.Is(err, ErrRefused), ExitCode: res.ExitCode}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Result{Error: err.Error()}
	}
	res.OK, res.Data = true, b
	return res
}

// Proc is one process.
type Proc struct {
	PID     int32   `json:"pid"`
	PPID    int32   `json:"ppid"`
	User    string  `json:"user,omitempty"`
	Name    string  `json:"name"`
	Cmdline string  `json:"cmdline,omitempty"`
	RSS     uint64  `json:"rss_bytes,omitempty"`
	CPU     float64 `json:"cpu_percent,omitempty"`
}

func processes(ctx context.Context) ([]Proc, bool, error) {
	ps, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, false, err
	}
	trunc := len(ps) > MaxProcesses
	if trunc {
		ps = ps[:MaxProcesses]
	}
	out := make([]Proc, 0, len(ps))
	for _, p := range ps {
		pr := Proc{PID: p.Pid}
		pr.PPID, _ = p.PpidWithContext(ctx)
		pr.Name, _ = p.NameWithContext(ctx)
		pr.User, _ = p.UsernameWithContext(ctx)
		pr.Cmdline, _ = p.CmdlineWithContext(ctx)
		if len(pr.Cmdline) > 512 {
			pr.Cmdline = pr.Cmdline[:512]
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			pr.RSS = m.RSS
		}
		pr.CPU, _ = p.CPUPercentWithContext(ctx)
		out = append(out, pr)
	}
	return out, trunc, nil
}

// inside resolves path (symbolic links followed) and reports whether it
// is one of the roots or under one.
func (h *Handler) inside(path string) (string, error) {
	if len(h.Roots) == 0 {
		return "", fmt.Errorf("%w: this agent has no file roots (--file-root)", ErrRefused)
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%w: %q: want an absolute path", ErrRefused, path)
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrRefused, path, err)
	}
	if !h.underRoot(real) {
		return "", fmt.Errorf("%w: %q is outside the agent's file roots", ErrRefused, path)
	}
	return real, nil
}

func (h *Handler) underRoot(real string) bool {
	for _, root := range h.Roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if real == r || strings.HasPrefix(real, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// FileView is a viewed file.
type FileView struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	Content string    `json:"content"`
}

func (h *Handler) view(path string) (FileView, bool, error) {
	real, err := h.inside(path)
	if err != nil {
		return FileView{}, false, err
	}
	f, err := os.Open(real)
	if err != nil {
		return FileView{}, false, err
	}
	defer f.Close()
	// Checked again on what was opened: a link swapped in between does
	// not lead outside.
	if opened, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && !h.underRoot(opened) {
		return FileView{}, false, fmt.Errorf("%w: %q is outside the agent's file roots", ErrRefused, path)
	}
	fi, err := f.Stat()
	if err != nil {
		return FileView{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return FileView{}, false, fmt.Errorf("%w: %q is not a regular file", ErrRefused, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxView+1))
	if err != nil {
		return FileView{}, false, err
	}
	trunc := len(b) > MaxView
	if trunc {
		b = b[:MaxView]
	}
	return FileView{Path: real, Size: fi.Size(), ModTime: fi.ModTime().UTC(), Content: strings.ToValidUTF8(string(b), "\uFFFD")}, trunc, nil
}

// Found is one search result.
type Found struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	Dir  bool   `json:"dir,omitempty"`
}

func (h *Handler) search(dir, pattern string) ([]Found, bool, error) {
	if pattern == "" {
		pattern = "*"
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, false, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	real, err := h.inside(dir)
	if err != nil {
		return nil, false, err
	}
	var out []Found
	trunc := false
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skipped
		}
		if ok, _ := filepath.Match(pattern, d.Name()); ok && p != real {
			if len(out) >= MaxSearch {
				trunc = true
				return filepath.SkipAll
			}
			f := Found{Path: p, Dir: d.IsDir()}
			if fi, err := d.Info(); err == nil && !d.IsDir() {
				f.Size = fi.Size()
			}
			out = append(out, f)
		}
		return nil
	})
	return out, trunc, err
}

// CommandOutput is a command's result.
type CommandOutput struct {
	Argv   []string `json:"argv"`
	Output string   `json:"output"`
	Took   string   `json:"took"`
}

func command(ctx context.Context, r Request) (CommandOutput, int, bool, error) {
	if len(r.Argv) == 0 || r.Argv[0] == "" {
		return CommandOutput{}, 0, false, fmt.Errorf("%w: no command", ErrRefused)
	}
	to := r.Timeout
	if to <= 0 {
		to = 30 * time.Second
	}
	to = min(to, 10*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	var out bytes.Buffer
	lw := &capped{b: &out, n: MaxOutput}
	cmd := exec.CommandContext(ctx, r.Argv[0], r.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := CommandOutput{Argv: r.Argv, Output: strings.ToValidUTF8(out.String(), "\uFFFD"), Took: time.Since(start).Round(time.Millisecond).String()}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		err = nil
	case err != nil:
		return res, -1, lw.over, err
	}
	return res, code, lw.over, nil
}

type capped struct {
	b    *bytes.Buffer
	n    int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	if c.b.Len()+len(p) > c.n {
		c.over = true
	}
	return len(p), nil
}
