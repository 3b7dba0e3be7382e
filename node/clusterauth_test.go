package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
)

// testJoinToken is the bootstrap join token of the test clusters.
const testJoinToken = "unyoj_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q"

// joinYAML is the cluster keys of a test member: the first one ("")
// records testJoinToken when it first leads, the others join with it.
func joinYAML(join string) string {
	if join == "" {
		return fmt.Sprintf("  bootstrap_join_token: %q\n", testJoinToken)
	}
	return fmt.Sprintf("  join: [%q]\n  join_token: %q\n", join, testJoinToken)
}

// testAdminToken is the first admin's API token of every test node.
var testAdminToken = auth.NewSecret(auth.TokenPrefix)

// call sends body (a string, or JSON of any other value) with the bearer
// credential cred and returns the status and the answer.
func call(t *testing.T, method, url, cred string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(out)
}

// startNoToken starts a node that asks a to let it join without a join
// token.
func startNoToken(t *testing.T, name, join string) (*Node, string) {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\nhttp:\n  listen: 127.0.0.1:0\ncluster:\n  bind: 127.0.0.1:0\n  join: [%q]\n", name, dir, join)
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Auth.BootstrapToken = testAdminToken
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n, o.Cluster.DataDir
}

// TestClusterRoutesNeedMembers: joining needs a live join token and
// hands out the member credential and the secret key; forward, recheck
// and self take only members; config takes an admin or a member, and
// records who; a member cannot forward raw assignment commands.
func TestClusterRoutesNeedMembers(t *testing.T) {
	a := startFileMember(t, "auth-a", "", "monitor:\n  targets:\n    - {name: web1, address: 127.0.0.1, ping: {interval: 1h}}\n")
	waitUntil(t, "auth-a leads, seeds its config and records the bootstrap token", func() bool {
		return a.IsLeader() && a.raft.Config().Version == 1 && len(a.raft.JoinTokens()) == 1
	})
	ctx := context.Background()
	if err := a.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	admin := auth.Identity{Kind: auth.KindToken, Name: "admin", Role: auth.RoleAdmin}
	if _, err := a.Auth().AddUser(ctx, "victor", auth.RoleViewer, ""); err != nil {
		t.Fatal(err)
	}
	viewer, _, err := a.Auth().CreateToken(ctx, admin, "victor", "cluster test", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ghost := cluster.JoinRequest{NodeID: "ghost", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:1"}

	// No token, a wrong one, an expired one: 401, nothing joins.
	expired := "unyoj_ZXhwaXJlZGV4cGlyZWRleHBpcmVkZXhwaXJlZGV4cA"
	cmd, _ := cluster.NewCommand(cluster.CmdTokenCreate, cluster.JoinToken{ID: "old", Hash: cluster.HashCredential(expired), Expires: time.Now().Add(-time.Minute)})
	cmd.At = time.Now().Add(-time.Hour)
	if _, err := a.raft.ApplyLocal(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", "unyoj_wrongwrongwrongwrongwrongwrong", expired} {
		if _, err := PostJoin(ctx, nil, a.URL(), tok, ghost); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("join with token %.12q: %v, want HTTP 401", tok, err)
		}
	}
	c, cdir := startNoToken(t, "auth-c", a.URL())

	b := startFileMember(t, "auth-b", a.URL(), "monitor:\n  targets:\n    - {name: only-b, address: 127.0.0.1, ping: {interval: 1h}}\n")
	waitUntil(t, "auth-b joined with the token and adopted the shared config", func() bool {
		return b.raft.InQuorum() && targetNames(b) == "web1" &&
			b.raft.State().Creds["auth-b"] == cluster.HashCredential(b.raft.MemberCredential())
	})
	if err := b.WaitStore(ctx); err != nil { // admin tokens are checked in the ledger
		t.Fatal(err)
	}
	bdir := b.opts.Cluster.DataDir
	for _, f := range []string{cluster.MemberCredFile, cluster.SecretKeyFile} {
		fi, err := os.Stat(filepath.Join(bdir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("auth-b %s: %v, want a file of mode 0600", f, err)
		}
	}
	ka, _ := a.raft.SecretKey()
	kb, err := b.raft.SecretKey()
	if err != nil || !bytes.Equal(ka, kb) {
		t.Fatalf("auth-b secret key: %v (equal to the leader's: %v)", err, bytes.Equal(ka, kb))
	}
	bcred := b.raft.MemberCredential()
	if st := a.raft.State(); st.Creds["auth-b"] != cluster.HashCredential(bcred) {
		t.Fatal("the leader does not hold auth-b's credential hash")
	}

	// auth-c, which had no token and started before auth-b, is not in.
	if len(a.raft.Members()) != 2 || c.raft.Config().Version != 0 {
		t.Fatalf("a node without a join token joined: members %v, its config version %d", a.raft.Members(), c.raft.Config().Version)
	}
	for _, f := range []string{cluster.MemberCredFile, cluster.SecretKeyFile} {
		if _, err := os.Stat(filepath.Join(cdir, f)); err == nil {
			t.Errorf("auth-c has %s without joining", f)
		}
	}

	rawTargets := cluster.Request{Op: cluster.OpApply, Command: &cluster.Command{Type: cluster.CmdTargetsSet, Payload: json.RawMessage(`{"targets":[]}`)}}
	recheck := RecheckRequest{Target: "web1", Address: "127.0.0.1"}
	steps := []struct {
		name, method, path, cred string
		body                     any
		want                     int
	}{
		{"anonymous forward", "POST", cluster.ForwardPath, "", rawTargets, 401},
		{"viewer forward", "POST", cluster.ForwardPath, viewer, rawTargets, 403},
		{"admin forward", "POST", cluster.ForwardPath, testAdminToken, rawTargets, 403},
		{"member forwards raw targets.set", "POST", cluster.ForwardPath, bcred, rawTargets, 403},
		{"member forwards a leave of nobody", "POST", cluster.ForwardPath, bcred, cluster.Request{Op: cluster.OpLeave, NodeID: "nobody"}, 404},
		{"join token forward", "POST", cluster.ForwardPath, testJoinToken, rawTargets, 403},
		{"anonymous recheck", "POST", RecheckPath, "", recheck, 401},
		{"member recheck", "POST", RecheckPath, bcred, recheck, 200},
		{"anonymous self", "GET", SelfPath, "", nil, 401},
		{"member self", "GET", SelfPath, bcred, nil, 200},
		{"anonymous status", "GET", "/v1/cluster/status", "", nil, 401},
		{"viewer status", "GET", "/v1/cluster/status", viewer, nil, 200},
		{"anonymous config", "POST", ConfigPath, "", "monitor: {enabled: true}\n", 401},
		{"viewer config", "POST", ConfigPath, viewer, "monitor: {enabled: true}\n", 403},
		{"join token config", "POST", ConfigPath, testJoinToken, "monitor: {enabled: true}\n", 403},
		{"anonymous leave", "POST", "/v1/cluster/leave", "", map[string]string{"node_id": "auth-b"}, 401},
		{"anonymous transfer", "POST", "/v1/cluster/transfer-leadership", "", map[string]string{}, 401},
		{"member makes a token", "POST", TokensPath, bcred, map[string]string{"ttl": "1h"}, 403},
		{"viewer lists tokens", "GET", TokensPath, viewer, nil, 403},
		{"anonymous join, 1 KiB", "POST", "/v1/cluster/join", "", ghost, 401},
		{"member join", "POST", "/v1/cluster/join", bcred, ghost, 403},
		{"forged member credential", "POST", RecheckPath, "unyom_forgedforgedforgedforgedforged", recheck, 401},
	}
	for _, s := range steps {
		for _, n := range []*Node{a, b} {
			if s.path == cluster.ForwardPath && s.want == 404 && n != a {
				continue // a follower answers not_leader: members forward to the leader
			}
			if s.cred == viewer && n != a {
				continue // each test node has its own ledger, and the viewer is in auth-a's
			}
			if code, out := call(t, s.method, n.URL()+s.path, s.cred, s.body); code != s.want {
				t.Errorf("%s on %s: HTTP %d %s, want %d", s.name, n.opts.Name, code, out, s.want)
			}
		}
	}
	if len(a.raft.Assignments()) != 1 || len(a.raft.Members()) != 2 || a.raft.Config().Version != 1 {
		t.Fatalf("refused requests changed the state: %v %v v%d", a.raft.Assignments(), a.raft.Members(), a.raft.Config().Version)
	}

	// An admin's config on the follower is forwarded with auth-b's member
	// credential, and the record says who applied it.
	newCfg := "monitor:\n  targets:\n    - {name: web1, address: 127.0.0.1, ping: {interval: 1h}}\n    - {name: web2, address: 127.0.0.1, ping: {interval: 1h}}\n"
	if code, out := call(t, "POST", b.URL()+ConfigPath, testAdminToken, newCfg); code != 200 {
		t.Fatalf("admin config on the follower: %d %s", code, out)
	}
	waitUntil(t, "both have web1,web2", func() bool { return targetNames(a) == "web1,web2" && targetNames(b) == "web1,web2" })
	if by := a.raft.Config().AppliedBy; by != "admin" {
		t.Errorf("config applied by %q, want admin", by)
	}

	// An admin makes a join token on the follower (made by the leader),
	// shown once, listed without its value.
	code, out := call(t, "POST", b.URL()+TokensPath, testAdminToken, map[string]string{"ttl": "10m"})
	var made struct{ Token cluster.CreatedToken }
	if code != 200 || json.Unmarshal([]byte(out), &made) != nil || !strings.HasPrefix(made.Token.Token, cluster.JoinTokenPrefix) {
		t.Fatalf("token create: %d %s", code, out)
	}
	code, out = call(t, "GET", a.URL()+TokensPath, testAdminToken, nil)
	if code != 200 || !strings.Contains(out, made.Token.ID) || strings.Contains(out, made.Token.Token) || !strings.Contains(out, `"by":"admin"`) {
		t.Fatalf("token list: %d %s", code, out)
	}
	if code, out := call(t, "GET", a.URL()+"/v1/cluster/status", made.Token.Token, nil); code != 403 {
		t.Errorf("a join token reads the status: %d %s", code, out)
	}
}

// TestJoinBodyLimit: eight parallel 62 MB bodies to the join route, with
// and without a join token, are refused (401 / 413) without being read:
// the process allocates a small fraction of what was sent.
func TestJoinBodyLimit(t *testing.T) {
	a := startFileMember(t, "big-a", "", "")
	waitUntil(t, "big-a leads and records the token", func() bool { return a.IsLeader() && len(a.raft.JoinTokens()) == 1 })
	const size = 62 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	codes := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := io.MultiReader(strings.NewReader(`{"node_id":"`), io.LimitReader(letters{}, size))
			req, _ := http.NewRequest("POST", a.URL()+"/v1/cluster/join", body)
			if i%2 == 0 {
				req.Header.Set("Authorization", "Bearer "+testJoinToken)
			}
			if i%4 < 2 {
				req.ContentLength = size + 12
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- "error " + err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			codes <- fmt.Sprint(i%2 == 0, resp.StatusCode)
		}()
	}
	wg.Wait()
	close(codes)
	runtime.ReadMemStats(&after)
	for c := range codes {
		if c != "true 413" && c != "false 401" && !strings.Contains(c, "reset") && !strings.Contains(c, "broken pipe") {
			t.Errorf("answer %s, want 413 with the token, 401 without (or the connection closed on us)", c)
		}
	}
	grew := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("8 × 62 MB join bodies: %d MB allocated in the process (client and server)", grew>>20)
	if grew > 50<<20 {
		t.Errorf("allocated %d MB for refused bodies, want < 50 MB", grew>>20)
	}
}

// letters reads an endless JSON string body: aaaa…
type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
