package drill_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/drill"
)

// The stand-ins of a hot-standby pair are this test binary run again
// with DRILL_STANDIN=primary|standby: a canary-protocol server whose
// state (the highest sequence) is a file both share, as shared storage
// or synchronous replication would. The standby listens only once the
// file promote exists in its directory.
func TestMain(m *testing.M) {
	if role := os.Getenv("DRILL_STANDIN"); role != "" {
		standIn(role, os.Getenv("DRILL_DIR"), os.Getenv("DRILL_ADDR"))
		return
	}
	os.Exit(m.Run())
}

func standIn(role, dir, addr string) {
	if role == "standby" {
		for {
			if _, err := os.Stat(filepath.Join(dir, "promote")); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	state := filepath.Join(dir, "seq")
	var mu sync.Mutex
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch f := strings.Fields(line); {
			case len(f) == 2 && f[0] == "SET":
				// Atomic (rename), so a killed primary leaves the last
				// acknowledged value, as a database's commit would.
				tmp := state + "." + role
				if err := os.WriteFile(tmp, []byte(f[1]), 0o600); err != nil || os.Rename(tmp, state) != nil {
					fmt.Fprintln(c, "ERR")
					return
				}
				fmt.Fprintln(c, "OK")
			case len(f) == 1 && f[0] == "GET":
				b, _ := os.ReadFile(state)
				fmt.Fprintln(c, strings.TrimSpace(string(b)))
			default:
				fmt.Fprintln(c, "ERR")
			}
		}()
	}
}

type pair struct {
	dir              string
	primary, standby string // addresses
	procs            []*exec.Cmd
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startPair(t *testing.T) *pair {
	p := &pair{dir: t.TempDir(), primary: freeAddr(t), standby: freeAddr(t)}
	for _, r := range []struct{ role, addr string }{{"primary", p.primary}, {"standby", p.standby}} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "DRILL_STANDIN="+r.role, "DRILL_DIR="+p.dir, "DRILL_ADDR="+r.addr)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if r.role == "primary" {
			if err := os.WriteFile(filepath.Join(p.dir, "primary.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p.procs = append(p.procs, cmd)
	}
	// The primary serves before the drill starts.
	deadline := time.Now().Add(30 * time.Second)
	for drill.TCPProbe(p.primary)(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("primary stand-in does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func (p *pair) sh(script string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := drill.Command(ctx, "sh", []string{"-c", script}, []string{"D=" + p.dir})
		return err
	}
}

func (p *pair) spec(name string) drill.Spec {
	return drill.Spec{ID: name, Name: "t/" + name, Kind: drill.KindExternal,
		Served: func(ctx context.Context) error {
			if _, err := os.Stat(filepath.Join(p.dir, "promote")); err == nil {
				return drill.TCPProbe(p.standby)(ctx)
			}
			return drill.TCPProbe(p.primary)(ctx)
		},
		Canary: drill.TCPCanary{Addrs: []string{p.primary, p.standby}},
		Limit:  30 * time.Second, TargetRPO: 0}
}

// TestExternalDrillPasses switches the pair over: the primary is killed,
// the standby promoted; the standby serves, RTO is measured and no
// acknowledged write is lost.
func TestExternalDrillPasses(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	s := p.spec("pass")
	s.Inject = p.sh(`kill -9 "$(cat "$D/primary.pid")" && touch "$D/promote"`)
	d := drill.Run(t.Context(), s)
	if d.Result != ledger.DrillPassed {
		t.Fatalf("result %s: %s\n%+v", d.Result, d.Reason, d.Steps)
	}
	if d.RTO <= 0 || d.Served.Before(d.Injected) || d.RPO != 0 {
		t.Fatalf("RTO %s RPO %d: %+v", d.RTO, d.RPO, d)
	}
	t.Logf("RTO %s, RPO %d; steps %+v", d.RTO, d.RPO, d.Steps)
}

// TestExternalDrillStandbyNeverServes: the switchover kills the primary
// but the standby is never promoted; the drill fails past its limit.
func TestExternalDrillStandbyNeverServes(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	s := p.spec("never")
	s.Limit = 1500 * time.Millisecond
	s.Served = drill.TCPProbe(p.standby)
	before := s.Served
	s.Served = func(ctx context.Context) error {
		if _, err := os.Stat(filepath.Join(p.dir, "injected")); err != nil {
			return drill.TCPProbe(p.primary)(ctx) // before the drill: the primary serves
		}
		return before(ctx)
	}
	s.Inject = p.sh(`touch "$D/injected" && kill -9 "$(cat "$D/primary.pid")"`)
	d := drill.Run(t.Context(), s)
	if d.Result != ledger.DrillFailed || !strings.Contains(d.Reason, "not serving") {
		t.Fatalf("result %s: %s", d.Result, d.Reason)
	}
}

// TestExternalDrillStopCondition: the switchover breaks a check named as
// a stop condition; the drill aborts and rolls back (the rollback command
// ran and the primary serves).
func TestExternalDrillStopCondition(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	s := p.spec("stop")
	s.Served = func(ctx context.Context) error {
		if _, err := os.Stat(filepath.Join(p.dir, "promote")); err == nil {
			return drill.TCPProbe(p.standby)(ctx)
		}
		return fmt.Errorf("standby not promoted")
	}
	s.Restored = drill.TCPProbe(p.primary)
	// Before the drill "served" is the primary: promote is absent, so the
	// pre-check uses the primary via a first-call switch.
	first := true
	served := s.Served
	s.Served = func(ctx context.Context) error {
		if first {
			first = false
			return drill.TCPProbe(p.primary)(ctx)
		}
		return served(ctx)
	}
	s.Stop = []drill.Check{{Name: "app", Probe: p.sh(`test ! -e "$D/broken"`)}}
	s.Inject = p.sh(`touch "$D/broken"`)
	s.Rollback = p.sh(`rm -f "$D/broken" && touch "$D/rolled-back"`)
	d := drill.Run(t.Context(), s)
	if d.Result != ledger.DrillAborted || !strings.Contains(d.Reason, "app") {
		t.Fatalf("result %s: %s", d.Result, d.Reason)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "rolled-back")); err != nil {
		t.Fatalf("not rolled back: %v (%s)", err, d.Reason)
	}
	if strings.Contains(d.Reason, "rollback failed") || strings.Contains(d.Reason, "not serving after") {
		t.Fatalf("rollback: %s", d.Reason)
	}
}

// TestRPOCountsLostWrites: a canary whose writes after the fault are
// acknowledged but lost gives RPO = last acknowledged − highest surviving.
func TestRPOCountsLostWrites(t *testing.T) {
	t.Parallel()
	c := &lossy{}
	d := drill.Run(t.Context(), drill.Spec{ID: "rpo", Kind: drill.KindExternal, Canary: c, CanaryEvery: 10 * time.Millisecond,
		Settle: 200 * time.Millisecond, TargetRPO: 0, Poll: 10 * time.Millisecond,
		Inject: func(context.Context) error {
			c.mu.Lock()
			c.losing = true
			c.mu.Unlock()
			return nil
		},
		Served: func(context.Context) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.losing && c.lost < 3 {
				return fmt.Errorf("not yet")
			}
			return nil
		}})
	if d.Result != ledger.DrillFailed || d.RPO < 3 || d.RPOTime <= 0 {
		t.Fatalf("result %s RPO %d (%s): %s", d.Result, d.RPO, d.RPOTime, d.Reason)
	}
}

// lossy acknowledges every write but keeps none once losing.
type lossy struct {
	mu     sync.Mutex
	losing bool
	high   int64
	lost   int
}

func (l *lossy) Write(_ context.Context, seq int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.losing {
		l.lost++
		return nil
	}
	l.high = seq
	return nil
}

func (l *lossy) Highest(context.Context, int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.high, nil
}
