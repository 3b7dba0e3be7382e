package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestAgentAnswersAcrossRoutes: an agent connected to one server of a
// routed cluster answers a direct offer the node of another server makes
// (its response permission holds for a request that came over a route),
// and a node of another server answers the agent's report.
func TestAgentAnswersAcrossRoutes(t *testing.T) {
	ports := freePorts(t, 2)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	buses := make([]*Bus, 2)
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			b, err := Open(t.Context(), Options{Name: fmt.Sprintf("r%d", i), StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
				ClusterName: "unyo-route", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes,
				Agents: []AgentCredential{{Name: "web01", Tags: []string{"linux"}, Password: web01Pass}}})
			buses[i] = b
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range buses {
		t.Cleanup(b.Close)
	}
	a, err := connectAgent(t, buses[1].ClientURL(), "web01", nats.UserInfo("web01", web01Pass))
	if err != nil {
		t.Fatal(err)
	}
	subj := jobDirectSubject + ".agent.web01.take"
	if _, err := a.nc.QueueSubscribe(subj, "unyo-direct", func(m *nats.Msg) { _ = m.Respond([]byte("taken")) }); err != nil {
		t.Fatal(err)
	}
	a.noViolation(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := buses[0].Conn().Request(subj, []byte("task"), time.Second)
		if err == nil {
			if string(resp.Data) != "taken" {
				t.Fatalf("answered %q", resp.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			select {
			case e := <-a.errs:
				t.Fatalf("offer from the other server: %v (agent: %v)", err, e)
			default:
			}
			t.Fatalf("offer from the other server: %v", err)
		}
	}
	if _, err := buses[0].Conn().Subscribe(jobReportSubject+".web01", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := a.nc.Request(jobReportSubject+".web01", []byte(`{}`), time.Second)
		if err == nil {
			if string(resp.Data) != "ok" {
				t.Fatalf("report answered %q", resp.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report to the other server: %v", err)
		}
	}
	a.noViolation(t)
}
