package cli_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/cluster"
)

// statusServer answers /v1/cluster/status with st (its API address filled
// in by fill once it listens).
func statusServer(t *testing.T, fill func(addr string) cluster.Status) string {
	t.Helper()
	var st cluster.Status
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	st = fill(addr)
	return addr
}

// TestClusterStatusLiveness: on a follower, cluster status shows the
// leader's view of who is live, and a member whose API does not answer is
// unreachable, not live (issue 17 item 11).
func TestClusterStatusLiveness(t *testing.T) {
	yes, no := true, false
	// A member that accepts connections and never answers.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	// A member that answers, refusing the token: it is up.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error": {"code": "forbidden"}}`))
	}))
	t.Cleanup(refusing.Close)
	refusingAddr := strings.TrimPrefix(refusing.URL, "http://")

	var followerAddr string
	members := func(leaderAddr string, live bool) []cluster.MemberStatus {
		l := func(b *bool) *bool {
			if live {
				return b
			}
			return nil
		}
		return []cluster.MemberStatus{
			{Member: cluster.Member{ID: "n1", RaftAddr: "127.0.0.1:7001", APIAddr: leaderAddr}, Voter: true, Leader: true, Live: l(&yes)},
			{Member: cluster.Member{ID: "n2", RaftAddr: "127.0.0.1:7002", APIAddr: followerAddr}, Voter: true, Live: l(&yes)},
			{Member: cluster.Member{ID: "n3", RaftAddr: "127.0.0.1:7003", APIAddr: refusingAddr}, Voter: true, Live: l(&no)},
			// Just added, and down: the leader has not noticed yet.
			{Member: cluster.Member{ID: "n4", RaftAddr: "127.0.0.1:7004", APIAddr: "127.0.0.1:1"}, Voter: true, Live: l(&yes)},
			{Member: cluster.Member{ID: "n5", RaftAddr: "127.0.0.1:7005", APIAddr: hole.Addr().String()}, Voter: false, Live: l(&yes)},
		}
	}
	leaderAddr := statusServer(t, func(addr string) cluster.Status {
		return cluster.Status{NodeID: "n1", State: "Leader", Leader: cluster.LeaderInfo{ID: "n1", APIAddr: addr}, Members: members(addr, true)}
	})
	followerAddr = statusServer(t, func(addr string) cluster.Status {
		followerAddr = addr
		return cluster.Status{NodeID: "n2", State: "Follower", Leader: cluster.LeaderInfo{ID: "n1", APIAddr: leaderAddr}, Members: members(leaderAddr, false)}
	})

	out, errOut, code := runCLI(t, "cluster", "status", "--server=http://"+followerAddr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := map[string]string{"n1": "yes", "n2": "yes", "n3": "no", "n4": "unreachable", "n5": "unreachable"}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 7 || want[f[0]] == "" {
			continue
		}
		if f[5] != want[f[0]] {
			t.Errorf("%s: LIVE %s, want %s\n%s", f[0], f[5], want[f[0]], out)
		}
		delete(want, f[0])
	}
	if len(want) > 0 || strings.Contains(out, "?") {
		t.Errorf("members not shown %v, or liveness unknown:\n%s", want, out)
	}

	out, _, _ = runCLI(t, "cluster", "status", "--server=http://"+followerAddr, "-o", "json")
	var st cluster.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.Live == nil || *m.Live != (m.ID == "n1" || m.ID == "n2") {
			t.Errorf("-o json: %s live %v", m.ID, m.Live)
		}
	}
}
