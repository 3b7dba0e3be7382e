package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"empty", Options{}, []string{"NodeID: required", "DataDir: required", "BindAddr:"}},
		{"unspecified advertise", Options{NodeID: "a", DataDir: "d", BindAddr: "0.0.0.0:0", AdvertiseAddr: "0.0.0.0:7000"}, []string{"AdvertiseAddr:", "unspecified"}},
		{"lease above heartbeat", Options{NodeID: "a", DataDir: "d", BindAddr: "127.0.0.1:0", HeartbeatTimeout: time.Second, LeaderLeaseTimeout: 2 * time.Second}, []string{"LeaderLeaseTimeout:"}},
		{"negative", Options{NodeID: "a", DataDir: "d", BindAddr: "127.0.0.1:0", LivenessTimeout: -time.Second}, []string{"LivenessTimeout: must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewRollsBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	_, err = New(Options{NodeID: "n1", DataDir: dir, BindAddr: l.Addr().String(), Registerer: reg})
	if err == nil {
		t.Fatal("New bound an address in use")
	}
	// Everything was released: the same dir and registry work again.
	n, err := New(Options{NodeID: "n1", DataDir: dir, BindAddr: "127.0.0.1:0", Registerer: reg})
	if err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSingleNode: a bootstrapped node is a one-member cluster that applies
// configuration, records itself, assigns every target to itself, and
// keeps it all across a restart from its data directory.
func TestSingleNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	opts := Options{
		NodeID: "n1", Site: "east", BindAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:8080",
		DataDir: dir, Bootstrap: true, Registerer: reg, WALSegmentSize: 1 << 20,
	}
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(n.Addr(), ":0") {
		t.Fatalf("Addr() = %s, want the bound port", n.Addr())
	}
	if _, err := n.SetConfig(ctx, 1, []byte("x")); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("SetConfig before Start: %v", err)
	}
	for range 2 {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case l := <-n.LeaderCh():
		if !l {
			t.Fatal("LeaderCh said false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never became leader")
	}
	cfgs := n.WatchConfig(ctx)
	<-cfgs // the initial, empty configuration

	if _, err := n.SetConfig(ctx, 1, []byte("interval: 30s\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-cfgs:
		if c.Version != 1 || c.Hash != ConfigHash([]byte("interval: 30s\n")) {
			t.Fatalf("watched config = %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchConfig did not report the new config")
	}
	if _, err := n.SetConfig(ctx, 1, []byte("other")); !errors.Is(err, ErrStaleConfig) {
		t.Fatalf("stale SetConfig: %v", err)
	}
	if _, err := n.Apply(ctx, Command{Type: "no.such.type"}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown command: %v", err)
	}

	assigned := n.WatchAssignments(ctx)
	if _, err := n.SetTargets(ctx, []Target{{Name: "db1", Site: "east"}, {Name: "web1", Site: "west"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "targets assigned to n1", func() bool {
		select {
		case got := <-assigned:
			return len(got) == 2
		default:
			return false
		}
	})
	waitFor(t, 5*time.Second, "self member record", func() bool {
		m := n.Members()
		return len(m) == 1 && m[0].Site == "east" && m[0].APIAddr == "127.0.0.1:8080"
	})

	st := n.Status()
	if st.State != "Leader" || st.Leader.ID != "n1" || st.Leader.APIAddr != "127.0.0.1:8080" || st.Config.Version != 1 ||
		len(st.Members) != 1 || st.Members[0].AssignedTargets != 2 || st.Members[0].Live == nil || !*st.Members[0].Live {
		t.Errorf("status = %+v", st)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if v := testutil.ToFloat64(n.metrics.isLeader); v != 1 {
		t.Errorf("is_leader = %v", v)
	}

	for range 2 {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}

	// Restart from the same directory (Bootstrap is ignored now).
	n2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Stop()
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "state recovered", func() bool {
		return n2.Config().Version == 1 && len(n2.AssignedTo("n1")) == 2
	})
}
