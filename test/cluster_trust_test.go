package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/test/testutil"
)

// trustNode writes the config of a one-target node; cl is its cluster
// keys beyond bind.
func trustNode(t *testing.T, name, cl string) (dir, addr, path string) {
	t.Helper()
	dir, addr = t.TempDir(), testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: %s
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
%smonitor:
  targets:
    - {name: web1, address: 127.0.0.1, ping: {interval: 1h}}
`, name, dir, addr, cl)
	path = filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, addr, path
}

func send(t *testing.T, method, url, cred, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func readCred(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "raft", cluster.MemberCredFile))
	return strings.TrimSpace(string(b))
}

// TestClusterTrust, with real binaries: the anonymous config apply, the
// raw forward, the anonymous join and the 62 MB join bodies of issue 11
// are refused; a node with the join token joins and gets its member
// credential and the cluster secret key; once the token has expired,
// another node can't join with it.
func TestClusterTrust(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	const ttl = 40 * time.Second
	adir, aaddr, apath := trustNode(t, "trust-a", fmt.Sprintf("  bootstrap_join_token: %q\n  bootstrap_join_token_ttl: %s\n", e2eJoinToken, ttl))
	a := testutil.Serve(t, apath, aaddr)
	born := time.Now()
	// The node writes its credential to the file before the cluster has
	// committed it, so wait until the cluster takes it.
	var acred string
	waitFor(t, "trust-a's member credential accepted", func() bool {
		acred = readCred(adir)
		if acred == "" {
			return false
		}
		code, _ := send(t, "GET", a.URL+"/v1/cluster/status", acred, "")
		return code == 200
	})
	status := func() cluster.Status {
		t.Helper()
		code, out := send(t, "GET", a.URL+"/v1/cluster/status", acred, "")
		var st cluster.Status
		if code != 200 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status: %d %s", code, out)
		}
		return st
	}
	waitFor(t, "web1 assigned", func() bool { st := status(); return st.Targets == 1 && st.Unassigned == 0 })

	// A node with the token joins and gets its credential and the key;
	// one without a token starts alongside and stays out.
	cdir, caddr, cpath := trustNode(t, "trust-c", fmt.Sprintf("  join: [%q]\n  join_timeout: 1m\n", a.URL))
	c := testutil.Start(t, cpath, caddr)
	bdir, baddr, bpath := trustNode(t, "trust-b", fmt.Sprintf("  join: [%q]\n  join_token: %q\n", a.URL, e2eJoinToken))
	testutil.Serve(t, bpath, baddr)
	if time.Since(born) > ttl {
		t.Fatalf("trust-b joined only after the token's %s: the machine is too slow for this test", ttl)
	}
	// Ready (in the quorum) comes as the leader adds it; the credential
	// with the join answer right after.
	waitFor(t, "trust-b's member credential", func() bool { return readCred(bdir) != "" })
	for _, f := range []string{cluster.MemberCredFile, cluster.SecretKeyFile} {
		fi, err := os.Stat(filepath.Join(bdir, "raft", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("trust-b %s: %v, want a file of mode 0600", f, err)
		}
	}
	ka, _ := os.ReadFile(filepath.Join(adir, "raft", cluster.SecretKeyFile))
	kb, _ := os.ReadFile(filepath.Join(bdir, "raft", cluster.SecretKeyFile))
	if len(ka) != cluster.SecretKeySize || !bytes.Equal(ka, kb) {
		t.Fatalf("secret keys: %d bytes, equal %v", len(ka), bytes.Equal(ka, kb))
	}
	waitFor(t, "trust-c refused for want of a token", func() bool {
		return strings.Contains(c.Log(), "HTTP 401") && strings.Contains(c.Log(), "authentication required")
	})

	// The anonymous config apply and the raw forward of issue 11.
	if code, out := send(t, "POST", a.URL+"/v1/cluster/config", "", "monitor: {enabled: true}\n"); code != 401 {
		t.Errorf("anonymous config: %d %s", code, out)
	}
	raw := `{"op":"apply","command":{"type":"targets.set","payload":{"targets":[]}}}`
	if code, out := send(t, "POST", a.URL+cluster.ForwardPath, "", raw); code != 401 {
		t.Errorf("anonymous raw forward: %d %s", code, out)
	}
	if code, out := send(t, "POST", a.URL+cluster.ForwardPath, readCred(bdir), raw); code != 403 {
		t.Errorf("a member's raw targets.set: %d %s", code, out)
	}
	if code, out := send(t, "POST", a.URL+"/v1/cluster/join", "", `{"node_id":"x","raft_addr":"127.0.0.1:1"}`); code != 401 {
		t.Errorf("anonymous join: %d %s", code, out)
	}
	if st := status(); st.Targets != 1 || st.Unassigned != 0 || len(st.Members) != 2 || st.Config.Version != 1 {
		t.Fatalf("after the refused requests: %d targets (%d unassigned), %d members, config v%d",
			st.Targets, st.Unassigned, len(st.Members), st.Config.Version)
	}
	for _, f := range []string{cluster.MemberCredFile, cluster.SecretKeyFile} {
		if _, err := os.Stat(filepath.Join(cdir, "raft", f)); err == nil {
			t.Errorf("trust-c has %s without a join token", f)
		}
	}

	// Eight parallel 62 MB bodies to the join route, half with the token.
	rss0, err := a.RSS()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answers []string
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := io.MultiReader(strings.NewReader(`{"node_id":"`), io.LimitReader(letterReader{}, 62<<20))
			req, _ := http.NewRequest("POST", a.URL+"/v1/cluster/join", body)
			if i%2 == 0 {
				req.Header.Set("Authorization", "Bearer "+e2eJoinToken)
			}
			ans := ""
			if resp, err := http.DefaultClient.Do(req); err != nil {
				ans = "closed"
			} else {
				ans = fmt.Sprint(resp.StatusCode)
				resp.Body.Close()
			}
			mu.Lock()
			answers = append(answers, ans)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rss1, _ := a.RSS()
	t.Logf("8 × 62 MB join bodies: RSS %d MB → %d MB; answers %v", rss0>>20, rss1>>20, answers)
	if rss1-rss0 > 50<<20 {
		t.Errorf("RSS grew by %d MB, want < 50 MB", (rss1-rss0)>>20)
	}
	for _, a := range answers {
		if a != "401" && a != "413" && a != "closed" {
			t.Errorf("answer %s to a 62 MB join body", a)
		}
	}

	// An admin's join token from the CLI: shown once, listed without its
	// value, revoked.
	srv := "--server=" + a.URL
	tok := strings.TrimSpace(unyo(t, 0, "cluster", "token", "create", "--ttl", "10m", srv))
	if !strings.HasPrefix(tok, cluster.JoinTokenPrefix) {
		t.Fatalf("token create printed %q", tok)
	}
	if code, out := send(t, "GET", a.URL+"/v1/cluster/status", tok, ""); code != 403 {
		t.Errorf("a join token reads the status: %d %s", code, out)
	}
	var listed []cluster.JoinToken
	out := unyo(t, 0, "cluster", "token", "list", "-o", "json", srv)
	id := ""
	if err := json.Unmarshal([]byte(out), &listed); err != nil || strings.Contains(out, tok) {
		t.Fatalf("token list: %v %s", err, out)
	}
	for _, l := range listed {
		if l.ID != "bootstrap" {
			id = l.ID
		}
	}
	if id == "" || len(listed) > 2 {
		t.Fatalf("token list: %s", out)
	}
	unyo(t, 0, "cluster", "token", "revoke", id, srv)
	if code, out := send(t, "GET", a.URL+"/v1/cluster/status", tok, ""); code != 401 {
		t.Errorf("a revoked join token: %d %s", code, out)
	}
	if _, _, code := testutil.RunEnv(t, nil, "cluster", "token", "create", srv); code == 0 {
		t.Error("token create without a credential succeeded")
	}

	// Once the bootstrap token has expired, it joins nobody.
	deadline := time.Now().Add(ttl + 30*time.Second)
	for {
		code, _ := send(t, "GET", a.URL+"/v1/cluster/status", e2eJoinToken, "")
		if code == 401 {
			break // was 403 (a joiner may not read the status) while valid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bootstrap join token never expired (HTTP %d)", code)
		}
		time.Sleep(250 * time.Millisecond)
	}
	ddir, daddr, dpath := trustNode(t, "trust-d", fmt.Sprintf("  join: [%q]\n  join_token: %q\n  join_timeout: 1m\n", a.URL, e2eJoinToken))
	d := testutil.Start(t, dpath, daddr)
	waitFor(t, "trust-d refused with an expired token", func() bool {
		return strings.Contains(d.Log(), "HTTP 401") && strings.Contains(d.Log(), "not valid")
	})
	if st := status(); len(st.Members) != 2 {
		t.Errorf("members %v after an expired token's join", st.Members)
	}
	if readCred(ddir) != "" {
		t.Error("trust-d has a member credential")
	}
}

type letterReader struct{}

func (letterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
