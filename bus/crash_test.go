package bus

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperOpts is what a helper process needs to run one cluster node.
type helperOpts struct {
	Name, StoreDir, Namespace, ClusterName, ClusterListen string
	Routes                                                []string
	Replicas                                              int
}

// TestHelperBusNode is not a test: run by TestEmbeddedClusterCrash as a
// separate process, it opens one cluster node, says "ready" and waits to be
// killed.
func TestHelperBusNode(t *testing.T) {
	raw := os.Getenv("UNYO_BUS_HELPER")
	if raw == "" {
		t.Skip("helper process for TestEmbeddedClusterCrash")
	}
	var h helperOpts
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Open(ctx, Options{Name: h.Name, StoreDir: h.StoreDir, Namespace: h.Namespace, Replicas: h.Replicas,
		ClusterName: h.ClusterName, ClusterListen: h.ClusterListen, Routes: h.Routes})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	_ = b
	fmt.Println("ready")
	select {}
}

// stepDownTo moves the leadership of a stream (consumer "" ) or of one of
// its consumers to the server named to.
func stepDownTo(ctx context.Context, t *testing.T, b *Bus, stream, consumer, to string) {
	t.Helper()
	subj := "$JS.API.STREAM.LEADER.STEPDOWN." + stream
	if consumer != "" {
		subj = "$JS.API.CONSUMER.LEADER.STEPDOWN." + stream + "." + consumer
	}
	eventually(t, 30*time.Second, "leader of "+stream+" "+consumer+" on "+to, func() error {
		leader := ""
		if consumer == "" {
			s, err := b.JetStream().Stream(ctx, stream)
			if err != nil {
				return err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			leader = info.Cluster.Leader
		} else {
			c, err := b.JetStream().Consumer(ctx, stream, consumer)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			leader = info.Cluster.Leader
		}
		if leader == to {
			return nil
		}
		_, err := b.Conn().Request(subj, []byte(`{"placement":{"preferred":"`+to+`"}}`), 2*time.Second)
		if err == nil {
			time.Sleep(500 * time.Millisecond)
		}
		return fmt.Errorf("leader %s (stepdown: %v)", leader, err)
	})
}

// TestEmbeddedClusterCrash: the server leading the events stream and the
// durable consumer is killed with SIGKILL (it runs in its own process); the
// other two elect new leaders and carry on.
func TestEmbeddedClusterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers, one in a child process")
	}
	ctx := context.Background()
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
	}
	ns := "k" + randHex(t)
	c := &testCluster{t: t, buses: make([]*Bus, 3)}
	for i := range 3 {
		c.opts = append(c.opts, Options{Name: fmt.Sprintf("n%d", i), StoreDir: t.TempDir(), Namespace: ns,
			Replicas: 3, ClusterName: "unyo-test", ClusterListen: routes[i], Routes: routes})
	}
	t.Cleanup(func() {
		for _, b := range c.buses {
			if b != nil {
				b.Close()
			}
		}
	})

	// n2 in a child process.
	o := c.opts[2]
	raw, _ := json.Marshal(helperOpts{Name: o.Name, StoreDir: o.StoreDir, Namespace: o.Namespace, Replicas: o.Replicas,
		ClusterName: o.ClusterName, ClusterListen: o.ClusterListen, Routes: o.Routes})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBusNode$", "-test.v")
	cmd.Env = append(os.Environ(), "UNYO_BUS_HELPER="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "ready":
				ready <- nil
			case strings.HasPrefix(line, "error:"):
				ready <- fmt.Errorf("child: %s", line)
			}
		}
	}()
	errs := make(chan error, 2)
	for i := range 2 {
		go func() { errs <- c.open(i) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child node not ready")
	}
	a := c.buses[0]

	const n1 = 20
	if err := publishN(ctx, a, "first", n1); err != nil {
		t.Fatal(err)
	}
	p0 := newPuller(ctx, t, a, "ledger-writer")
	drain(t, n1, 30*time.Second, p0)
	stepDownTo(ctx, t, a, a.EventsStream(), "", "n2")
	stepDownTo(ctx, t, a, a.EventsStream(), "ledger-writer", "n2")

	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, 60*time.Second, "publish after the leader was killed", func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return a.Publish(pctx, testEvent("second-0"))
	})
	t.Logf("publishing resumed %s after SIGKILL of the stream leader", time.Since(killed).Round(time.Millisecond))
	const n2 = 20
	if err := publishN(ctx, c.buses[1], "second", n2); err != nil {
		t.Fatal(err)
	}
	p1 := newPuller(ctx, t, c.buses[1], "ledger-writer")
	drain(t, n1+n2, 60*time.Second, p0, p1)
	t.Logf("consuming resumed; all %d new messages pulled %s after SIGKILL of the stream and consumer leader",
		n2, time.Since(killed).Round(time.Millisecond))
	checkOnce(t, append(idRange("first", n1), idRange("second", n2)...), p0, p1)
}
