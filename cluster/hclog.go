package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// hcLogger adapts a *slog.Logger to hclog.Logger, which raft and raft-wal
// take. hclog's key/value pairs pass straight through to slog. Trace maps
// to slog.LevelDebug-4. The level is the slog handler's business: SetLevel
// is ignored and the Is* methods ask the handler.
type hcLogger struct {
	l       *slog.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*hcLogger)(nil)

const levelTrace = slog.LevelDebug - 4

func newHCLogger(l *slog.Logger, name string) *hcLogger {
	return &hcLogger{l: l, name: name}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	h.l.Log(context.Background(), toSlogLevel(level), msg, logArgs(args)...)
}

// logArgs renders the values hclog would format itself: hclog.Fmt
// (printf verb and arguments) becomes its formatted text, and Raft's
// server lists a readable "id=address/suffrage" list instead of a Go
// struct dump. args is not modified.
func logArgs(args []any) []any {
	var out []any
	for i, a := range args {
		if out == nil {
			if !isRendered(a) {
				continue
			}
			out = append(make([]any, 0, len(args)), args[:i]...)
		}
		out = append(out, logValue(a))
	}
	if out == nil {
		return args
	}
	return out
}

// isRendered reports whether logValue changes a.
func isRendered(a any) bool {
	switch a.(type) {
	case hclog.Format, []raft.Server, raft.Server, raft.Configuration:
		return true
	}
	return false
}

func logValue(a any) any {
	switch v := a.(type) {
	case hclog.Format:
		if len(v) == 2 {
			if _, ok := v[0].(string); ok && isRendered(v[1]) {
				return logValue(v[1])
			}
		}
		if len(v) > 0 {
			if f, ok := v[0].(string); ok {
				return fmt.Sprintf(f, v[1:]...)
			}
		}
		return fmt.Sprint(v...)
	case []raft.Server:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = serverString(s)
		}
		return strings.Join(parts, ",")
	case raft.Server:
		return serverString(v)
	case raft.Configuration:
		return logValue(v.Servers)
	}
	return a
}

func serverString(s raft.Server) string {
	return fmt.Sprintf("%s=%s/%s", s.ID, s.Address, strings.ToLower(s.Suffrage.String()))
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(l slog.Level) bool { return h.l.Enabled(context.Background(), l) }

func (h *hcLogger) IsTrace() bool { return h.enabled(levelTrace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(slog.LevelDebug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(slog.LevelInfo) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(slog.LevelWarn) }
func (h *hcLogger) IsError() bool { return h.enabled(slog.LevelError) }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{l: h.l.With(logArgs(args)...), name: h.name, implied: append(append([]any(nil), h.implied...), args...)}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.l.With("logger", name), name: name, implied: h.implied}
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	case h.IsError():
		return hclog.Error
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && (opts.InferLevels || opts.InferLevelsWithTimestamp)
	return stdWriter{h: h, infer: infer}
}

// stdWriter turns lines written by a standard *log.Logger into records,
// guessing the level from an "[ERROR]"-style prefix when asked to.
type stdWriter struct {
	h     *hcLogger
	infer bool
}

func (w stdWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	level := hclog.Info
	if w.infer {
		for _, c := range []struct {
			prefix string
			level  hclog.Level
		}{{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info}, {"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error}} {
			if i := strings.Index(msg, c.prefix); i >= 0 {
				level = c.level
				msg = strings.TrimSpace(msg[i+len(c.prefix):])
				break
			}
		}
	}
	w.h.Log(level, msg)
	return len(p), nil
}
