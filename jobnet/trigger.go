package jobnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/configs"
)

// RunTriggers watches the file and bus-event triggers of the current
// jobnets until ctx ends (restart it after SetNets). Every node watches;
// only the leader fires, and a trigger's run id is derived from what
// triggered it, so one file version or one message fires one run. nc may
// be nil (no event triggers).
func (e *Engine) RunTriggers(ctx context.Context, nc *nats.Conn) error {
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	for _, n := range e.Nets() {
		for _, t := range n.Triggers {
			switch {
			case t.File.Path != "":
				e.wg.Add(1)
				go func() { defer e.wg.Done(); e.watchFiles(ctx, n, t.File) }()
			case t.Event.Subject != "" && nc != nil:
				ev := t.Event
				s, err := nc.Subscribe(ev.Subject, func(m *nats.Msg) {
					if !e.opts.Log.Leader() || !matches(m.Data, ev.Match) {
						return
					}
					id := m.Header.Get(nats.MsgIdHdr)
					if id == "" {
						sum := sha256.Sum256(m.Data)
						id = hex.EncodeToString(sum[:])
					}
					e.startTriggered(ctx, n, "event", m.Subject+":"+id)
				})
				if err != nil {
					return fmt.Errorf("jobnet %s: event trigger %s: %w", n.Name, ev.Subject, err)
				}
				subs = append(subs, s)
			}
		}
	}
	<-ctx.Done()
	return nil
}

// matches reports whether every key of match equals the message's field
// (labels.NAME looks into the labels object).
func matches(data []byte, match map[string]string) bool {
	if len(match) == 0 {
		return true
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	for k, want := range match {
		var v any = m
		for _, part := range strings.Split(k, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				return false
			}
			v = obj[part]
		}
		if v == nil || fmt.Sprint(v) != want {
			return false
		}
	}
	return true
}

type fileSeen struct {
	size  int64
	mtime time.Time
	// pending is the event waiting for the file to settle ("" none).
	pending string
	since   time.Time
}

// watchFiles polls a glob. Files present at the start are the baseline;
// a new file fires "created", a file whose size or time changed fires
// "changed" — each once it has stayed the same for Settle — and a file
// that went fires "deleted".
func (e *Engine) watchFiles(ctx context.Context, n *Net, ft configs.JobnetFileTrigger) {
	seen := map[string]*fileSeen{}
	scan := func() map[string]os.FileInfo {
		out := map[string]os.FileInfo{}
		matches, _ := filepath.Glob(ft.Path)
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				out[m] = fi
			}
		}
		return out
	}
	for p, fi := range scan() {
		seen[p] = &fileSeen{size: fi.Size(), mtime: fi.ModTime()}
	}
	poll := ft.Poll
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		cur := scan()
		for p, fi := range cur {
			s := seen[p]
			switch {
			case s == nil:
				seen[p] = &fileSeen{size: fi.Size(), mtime: fi.ModTime(), pending: "created", since: now}
				continue
			case s.size != fi.Size() || !s.mtime.Equal(fi.ModTime()):
				s.size, s.mtime, s.since = fi.Size(), fi.ModTime(), now
				if s.pending == "" {
					s.pending = "changed"
				}
				continue
			}
			if s.pending != "" && now.Sub(s.since) >= ft.Settle {
				ev := s.pending
				s.pending = ""
				if slices.Contains(ft.On, ev) && e.opts.Log.Leader() {
					e.startTriggered(ctx, n, "file", fmt.Sprintf("%s %s %d %d", ev, p, fi.Size(), fi.ModTime().UnixNano()))
				}
			}
		}
		for p, s := range seen {
			if _, ok := cur[p]; ok {
				continue
			}
			delete(seen, p)
			if slices.Contains(ft.On, "deleted") && e.opts.Log.Leader() {
				e.startTriggered(ctx, n, "file", fmt.Sprintf("deleted %s %d %d", p, s.size, s.mtime.UnixNano()))
			}
		}
	}
}
