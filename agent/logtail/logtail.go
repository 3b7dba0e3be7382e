// Package logtail follows log files the way an operator expects: lines
// appended are read once each, across rotation (the file renamed and a
// new one made: the old one is read to its end first) and truncation
// (read again from the start), with the position of each file kept in a
// state file so that a restart neither repeats nor skips lines (a file
// rotated while the agent was stopped is read from the start of the new
// one). A position advances only once the lines before it were accepted
// by the sink (the node answered), so a failed send is retried.
package logtail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// MaxLine bounds a line; a longer one is cut (and the rest read as the
// next line).
const MaxLine = 16 << 10

// Pos is where a file was read to.
type Pos struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Sink takes the complete lines read from path; an error keeps them to
// be read again.
type Sink func(ctx context.Context, path string, lines []string) error

// Tailer follows files.
type Tailer struct {
	Files     []string
	StateFile string
	Sink      Sink
	Interval  time.Duration // default 500ms

	mu    sync.Mutex
	pos   map[string]Pos
	files map[string]*follow
}

type follow struct {
	f     *os.File
	inode uint64
	off   int64 // committed: the lines before it were accepted
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func (t *Tailer) load() {
	t.pos, t.files = map[string]Pos{}, map[string]*follow{}
	if b, err := os.ReadFile(t.StateFile); err == nil {
		_ = json.Unmarshal(b, &t.pos)
	}
}

func (t *Tailer) save() error {
	b, _ := json.Marshal(t.pos)
	tmp := t.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, t.StateFile)
}

// Run polls until ctx ends.
func (t *Tailer) Run(ctx context.Context) {
	t.mu.Lock()
	t.load()
	t.mu.Unlock()
	iv := t.Interval
	if iv <= 0 {
		iv = 500 * time.Millisecond
	}
	tk := time.NewTicker(iv)
	defer tk.Stop()
	for {
		t.Poll(ctx)
		select {
		case <-ctx.Done():
			t.close()
			return
		case <-tk.C:
		}
	}
}

func (t *Tailer) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		if f.f != nil {
			f.f.Close()
		}
	}
}

// Poll reads every file once (Run calls it; Once-style callers too).
func (t *Tailer) Poll(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pos == nil {
		t.load()
	}
	for _, p := range t.Files {
		if err := t.poll(ctx, p); err != nil && ctx.Err() == nil {
			continue
		}
	}
}

func (t *Tailer) poll(ctx context.Context, path string) error {
	fl := t.files[path]
	if fl == nil {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		fl = &follow{f: f, inode: inodeOf(fi)}
		if p, ok := t.pos[path]; ok && p.Inode == fl.inode && p.Offset <= fi.Size() {
			fl.off = p.Offset
		}
		t.files[path] = fl
	}
	// Read what the open file has; then see whether the path was rotated
	// or truncated.
	if err := t.drain(ctx, path, fl); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil // rotated away, the new one not made yet
	}
	if ino := inodeOf(fi); ino != fl.inode {
		fl.f.Close()
		delete(t.files, path)
		return t.poll(ctx, path)
	}
	if fi.Size() < fl.off {
		fl.off = 0
		return t.drain(ctx, path, fl)
	}
	return nil
}

// drain reads complete lines from the committed offset to the end and
// hands them to the sink in batches.
func (t *Tailer) drain(ctx context.Context, path string, fl *follow) error {
	for {
		if _, err := fl.f.Seek(fl.off, io.SeekStart); err != nil {
			return err
		}
		buf := make([]byte, 256<<10)
		n, err := io.ReadFull(fl.f, buf)
		if n == 0 {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		buf = buf[:n]
		var lines []string
		used := 0
		for used < len(buf) {
			i := bytes.IndexByte(buf[used:], '\n')
			if i < 0 {
				if len(buf)-used >= MaxLine {
					lines = append(lines, string(buf[used:used+MaxLine]))
					used += MaxLine
					continue
				}
				break
			}
			line := buf[used : used+i]
			used += i + 1
			if len(line) > MaxLine {
				line = line[:MaxLine]
			}
			lines = append(lines, string(bytes.TrimRight(line, "\r")))
		}
		if len(lines) == 0 {
			return nil
		}
		if err := t.Sink(ctx, path, lines); err != nil {
			return err
		}
		fl.off += int64(used)
		t.pos[path] = Pos{Inode: fl.inode, Offset: fl.off}
		if err := t.save(); err != nil {
			return err
		}
		if n < len(buf) && used == n {
			return nil
		}
	}
}
