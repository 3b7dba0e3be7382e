package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/cluster/clustertest"
)

// TestMeasure reports failover and throughput figures for 3 nodes on
// loopback TCP with the default (production) timeouts:
//
//	UNYO_CLUSTER_MEASURE=1 go test ./cluster -run TestMeasure -v -timeout 30m
//
// UNYO_CLUSTER_MEASURE_RUNS sets the number of leader kills (default 20).
func TestMeasure(t *testing.T) {
	if os.Getenv("UNYO_CLUSTER_MEASURE") == "" {
		t.Skip("set UNYO_CLUSTER_MEASURE=1 to measure")
	}
	runs := 20
	if v, err := strconv.Atoi(os.Getenv("UNYO_CLUSTER_MEASURE_RUNS")); err == nil && v > 0 {
		runs = v
	}
	t.Run("failover", func(t *testing.T) { measureFailover(t, runs) })
	t.Run("throughput", measureThroughput)
}

func measureFailover(t *testing.T, runs int) {
	const nTargets = 300
	c := clustertest.Start(t, 3, clustertest.TCP())
	ctx := context.Background()
	ts := someTargets(nTargets)
	if _, err := c.Leader().SetTargets(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var members []cluster.Member
	for _, id := range c.IDs() {
		members = append(members, cluster.Member{ID: id})
	}
	balanced := cluster.Assign(ts, members)

	var election, reassign []time.Duration
	for i := range runs {
		// Start from the steady state: everyone up, targets where
		// rendezvous hashing puts them.
		c.WaitFor("balanced assignment", func() bool { return maps.Equal(c.Leader().Assignments(), balanced) })
		c.WaitConverged()
		leader := c.WaitLeader()
		owned := len(c.Node(leader).AssignedTo(leader))

		killed := time.Now()
		c.Kill(leader)
		newLeader := c.WaitLeader()
		e := time.Since(killed)
		survivors := c.Running()
		c.WaitFor("targets moved", func() bool {
			n := c.Node(newLeader)
			return n != nil && allAssignedTo(n, nTargets, survivors...)
		})
		r := time.Since(killed)
		t.Logf("run %2d: killed %s (%d targets): new leader %s after %v, targets moved after %v", i+1, leader, owned, newLeader, e.Round(time.Millisecond), r.Round(time.Millisecond))
		election, reassign = append(election, e), append(reassign, r)
		c.Restart(leader)
	}
	t.Logf("leader election after kill:    median %v, max %v (goal ≤ 3s; %d runs)", median(election), slices.Max(election).Round(time.Millisecond), runs)
	t.Logf("target reassignment after kill: median %v, max %v (goal ≤ 5s; %d runs)", median(reassign), slices.Max(reassign).Round(time.Millisecond), runs)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

func measureThroughput(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.TCP())
	leader := c.Leader()
	ctx := context.Background()
	if _, err := leader.SetTargets(ctx, someTargets(300)); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	ids := c.IDs()
	cfg := make([]byte, 4096) // a typical small YAML file
	var version atomic.Int64

	writes := map[string]func(i int) error{
		"config (4 KiB)": func(i int) error {
			v := version.Add(1)
			_, err := leader.SetConfig(ctx, v, append(cfg[:0:0], fmt.Sprint(v)...))
			if err != nil && !isStale(err) {
				return err
			}
			return nil
		},
		"assignment (1 move)": func(i int) error {
			name := fmt.Sprintf("host-%03d", i%300)
			cmd, err := cluster.NewCommand(cluster.CmdAssignUpdate, cluster.AssignUpdate{Moves: []cluster.Move{{Target: name, From: leader.Assignments()[name], Node: ids[i%3]}}})
			if err != nil {
				return err
			}
			_, err = leader.Apply(ctx, cmd)
			return err
		},
	}
	for _, name := range []string{"config (4 KiB)", "assignment (1 move)"} {
		for _, workers := range []int{1, 16} {
			const total = 2000
			var next atomic.Int64
			var wg sync.WaitGroup
			var failed atomic.Value
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for {
						i := int(next.Add(1))
						if i > total {
							return
						}
						if err := writes[name](i); err != nil {
							failed.Store(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			el := time.Since(start)
			t.Logf("%-20s %2d in flight: %d applies in %v = %.0f applies/s", name, workers, total, el.Round(time.Millisecond), float64(total)/el.Seconds())
		}
	}
}

func isStale(err error) bool {
	return errors.Is(err, cluster.ErrStaleConfig)
}
