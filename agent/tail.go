package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/unyo-ops/unyo/agent/logtail"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/bus"
)

// maxBatch bounds the lines of one request to the node.
const maxBatch = 500

func (a *Agent) tailer() *logtail.Tailer {
	apps := map[string]string{}
	var files []string
	for _, l := range a.o.Logs {
		files = append(files, l.Path)
		apps[l.Path] = l.App
	}
	return &logtail.Tailer{Files: files, StateFile: filepath.Join(a.o.Dir, "logpos.json"),
		Sink: func(ctx context.Context, path string, lines []string) error {
			for len(lines) > 0 {
				n := min(len(lines), maxBatch)
				b := agents.LogBatch{File: path, App: apps[path]}
				now := time.Now().UTC()
				size := 0
				for _, l := range lines[:n] {
					b.Lines = append(b.Lines, agents.LogLine{At: now, Text: l})
					size += len(l)
					if size > 512<<10 {
						n = len(b.Lines)
						break
					}
				}
				data, _ := json.Marshal(b)
				rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				m, err := a.nc.RequestWithContext(rctx, bus.AgentLogSubject+"."+a.st.Name, data)
				cancel()
				if err != nil {
					return err
				}
				var ack agents.Ack
				if err := json.Unmarshal(m.Data, &ack); err != nil || !ack.OK {
					return fmt.Errorf("log lines refused: %s", ack.Error)
				}
				lines = lines[n:]
			}
			return nil
		}}
}

func (a *Agent) tail(ctx context.Context) { a.tailer().Run(ctx) }

func (a *Agent) tailOnce(ctx context.Context) { a.tailer().Poll(ctx) }
