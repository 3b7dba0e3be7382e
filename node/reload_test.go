package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// TestReloadAddsFirstJobnet (issue 17 item 7): a node started without
// jobnets runs one added by a reload, and says what it applied; a reload
// that changes nothing applies nothing.
func TestReloadAddsFirstJobnet(t *testing.T) {
	dir := t.TempDir()
	n := startFileMemberIn(t, dir, "jn", "", "")
	// The cluster's first config (this file) is applied first.
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, ok := n.waitShared(wctx, 1); !ok {
		t.Fatal("the seeded shared config was not applied")
	}
	if got := n.jobnetsView().Jobnets(); len(got) != 0 {
		t.Fatalf("jobnets before the reload: %+v", got)
	}
	path := filepath.Join(dir, "unyo.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ran")
	data = append(data, []byte("jobnets:\n  - name: first\n    jobs: [{name: a, command: /bin/sh, args: [\"-c\", \"touch "+out+"\"]}]\n")...)
	cfg, err := configs.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.ReloadReport(context.Background(), cfg)
	if err != nil || !slices.Equal(res.Applied, []string{"jobnets"}) || len(res.Restart) != 0 {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	id, err := n.jobnetsView().StartRun(context.Background(), "first", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "run "+id+" ends normally", func() bool {
		r, err := n.jobnetsView().Run(context.Background(), id)
		return err == nil && r.Status == runstate.StatusNormal
	})
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the job did not run: %v", err)
	}
	res, err = n.ReloadReport(context.Background(), cfg)
	if err != nil || len(res.Applied)+len(res.Restart)+len(res.Failed) != 0 {
		t.Errorf("the same config again: %+v, %v", res, err)
	}
}
