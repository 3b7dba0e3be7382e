package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestHCLoggerRendersFormatsAndServers checks that the values Raft hands
// hclog to format (hclog.Fmt, server lists) reach slog as readable text,
// not as a printf verb beside a Go struct dump.
func TestHCLoggerRendersFormatsAndServers(t *testing.T) {
	var buf bytes.Buffer
	h := newHCLogger(slog.New(slog.NewTextHandler(&buf, nil)), "raft")
	servers := []raft.Server{
		{Suffrage: raft.Voter, ID: "s1", Address: "127.0.0.1:7001"},
		{Suffrage: raft.Nonvoter, ID: "s2", Address: "127.0.0.1:7002"},
	}
	h.Info("initial configuration", "index", 1, "servers", hclog.Fmt("%+v", servers))
	h.Info("progress", "percent-complete", hclog.Fmt("%0.2f%%", 12.5), "conf", raft.Configuration{Servers: servers[:1]})
	h.With("peer", hclog.Fmt("%d / %d", 1, 2)).Info("with")
	out := buf.String()
	for _, want := range []string{
		`servers="s1=127.0.0.1:7001/voter,s2=127.0.0.1:7002/nonvoter"`,
		`percent-complete=12.50%`,
		`conf="s1=127.0.0.1:7001/voter"`,
		`peer="1 / 2"`,
		`index=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	for _, bad := range []string{"%+v", "Suffrage", "{"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q in:\n%s", bad, out)
		}
	}
}
