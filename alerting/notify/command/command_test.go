package command_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/command"
)

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	m := notify.Message{Key: "k", Kind: notify.KindProblem, To: []string{"a@x", "b@x"}, Role: "operator", Level: 2,
		Items: []notify.Item{{Incident: incident.Incident{ID: 7, Target: "db01", Check: "ping", Severity: incident.Critical}}}}
	tests := []struct {
		name      string
		script    string
		timeout   time.Duration
		wantErr   bool
		wantRetry bool
	}{
		{"ok", `cat > ` + out + `.json; env | grep ^UNYO_ | sort > ` + out + `.env`, 5 * time.Second, false, false},
		{"tempfail", `exit 75`, 5 * time.Second, true, true},
		{"fail", `echo boom; exit 1`, 5 * time.Second, true, false},
		{"timeout", `sleep 5`, 200 * time.Millisecond, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := command.New(command.Config{Path: "/bin/sh", Args: []string{"-c", tt.script}, Timeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := c.Notify(t.Context(), m)
			if (err != nil) != tt.wantErr || retry != tt.wantRetry {
				t.Fatalf("Notify = retry %v, %v; want error %v retry %v", retry, err, tt.wantErr, tt.wantRetry)
			}
		})
	}
	env, err := os.ReadFile(out + ".env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"UNYO_KIND=problem", "UNYO_TO=a@x,b@x", "UNYO_LEVEL=2", "UNYO_INCIDENTS=7", "UNYO_SUBJECT=[CRITICAL] db01: ping"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	var got notify.Message
	b, _ := os.ReadFile(out + ".json")
	if err := json.Unmarshal(b, &got); err != nil || got.Key != "k" || got.Items[0].Incident.ID != 7 {
		t.Errorf("stdin = %s (%v)", b, err)
	}
}
