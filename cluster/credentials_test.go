package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// The credential commands: tokens expire by the time of the next token
// command (deterministically), members carry their credential hash from
// the join and lose it when removed.
func TestFSMCredentials(t *testing.T) {
	f := NewFSM()
	b := &logBuilder{t: t}
	h := func(s string) string { return HashCredential(s) }
	steps := []struct {
		name string
		l    func() error
		want error
	}{
		{"token", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "a", Hash: h("unyoj_a"), Expires: t0.Add(time.Hour), By: "alice"}, t0))
		}, nil},
		{"same token again is a no-op", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "a", Hash: h("unyoj_a"), Expires: t0.Add(time.Hour)}, t0))
		}, nil},
		{"id taken", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "a", Hash: h("unyoj_x"), Expires: t0.Add(time.Hour)}, t0))
		}, ErrBadCommand},
		{"expired at birth", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "b", Hash: h("unyoj_b"), Expires: t0}, t0))
		}, ErrBadCommand},
		{"too long", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "b", Hash: h("unyoj_b"), Expires: t0.Add(MaxJoinTokenTTL + time.Hour)}, t0))
		}, ErrBadCommand},
		{"not a hash", func() error {
			return applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "b", Hash: "unyoj_b", Expires: t0.Add(time.Hour)}, t0))
		}, ErrBadCommand},
		{"member with credential", func() error {
			return applyErr(f, b.cmd(CmdMemberUpsert, memberUpsert{Member: Member{ID: "n2", RaftAddr: "x:1"}, CredHash: h("unyom_2")}, t0))
		}, nil},
		{"member with a bad hash", func() error {
			return applyErr(f, b.cmd(CmdMemberUpsert, memberUpsert{Member: Member{ID: "n3", RaftAddr: "x:1"}, CredHash: "zz"}, t0))
		}, ErrBadCommand},
	}
	for _, s := range steps {
		if err := s.l(); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	st := f.State()
	if tok := st.JoinTokens["a"]; tok.By != "alice" || !tok.Created.Equal(t0) || len(st.JoinTokens) != 1 {
		t.Fatalf("tokens = %+v", st.JoinTokens)
	}
	if st.Creds["n2"] != h("unyom_2") {
		t.Fatalf("creds = %v", st.Creds)
	}
	if _, ok := st.Members["n3"]; ok {
		t.Fatal("a rejected upsert changed the state")
	}
	// An hour later, the next token command drops the expired one.
	if err := applyErr(f, b.cmd(CmdTokenCreate, JoinToken{ID: "c", Hash: h("unyoj_c"), Expires: t0.Add(3 * time.Hour)}, t0.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if st := f.State(); len(st.JoinTokens) != 1 || st.JoinTokens["c"].ID != "c" {
		t.Fatalf("after expiry: %+v", st.JoinTokens)
	}
	if err := applyErr(f, b.cmd(CmdMemberRemove, MemberRemove{ID: "n2"}, t0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.State().Creds["n2"]; ok {
		t.Fatal("a removed member kept its credential")
	}
}

// A bootstrapped node mints and records its own credential and the
// bootstrap join token; the Authenticator knows members, live join
// tokens, and refuses unknown or expired ones of its prefixes.
func TestAuthenticator(t *testing.T) {
	dir := t.TempDir()
	boot, err := GenerateJoinToken()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{NodeID: "n1", BindAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:8080", DataDir: dir,
		Bootstrap: true, WALSegmentSize: 1 << 20, BootstrapJoinToken: boot})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	waitUntil(t, "own credential recorded", func() bool {
		c := n.MemberCredential()
		return c != "" && n.State().Creds["n1"] == HashCredential(c)
	})
	// The bootstrap join token is recorded just after the credential.
	waitUntil(t, "bootstrap join token recorded", func() bool {
		for _, jt := range n.JoinTokens() {
			if jt.ID == "bootstrap" {
				return true
			}
		}
		return false
	})
	for _, f := range []string{MemberCredFile, SecretKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, err, fi)
		}
	}
	if k, err := n.SecretKey(); err != nil || len(k) != SecretKeySize {
		t.Fatalf("secret key: %v", err)
	}
	ctx := context.Background()
	tok, err := n.CreateJoinToken(ctx, time.Hour, "admin:alice")
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" || len(tok.Token) < 40 || time.Until(tok.Expires) < 59*time.Minute {
		t.Fatalf("token = %+v", tok)
	}
	// An expired token, as committed by an old proposal.
	expired := "unyoj_expiredexpiredexpiredexpired"
	cmd, _ := NewCommand(CmdTokenCreate, JoinToken{ID: "old", Hash: HashCredential(expired), Expires: time.Now().Add(-time.Hour)})
	cmd.At = time.Now().Add(-2 * time.Hour)
	if _, err := n.ApplyLocal(ctx, cmd); err != nil {
		t.Fatal(err)
	}

	a := n.Authenticator()
	tests := []struct {
		name   string
		header string
		want   auth.Identity
		ok     bool
		err    bool
	}{
		{"member", "Bearer " + n.MemberCredential(), auth.Identity{Kind: auth.KindMember, Name: "n1", Role: auth.RoleMember}, true, false},
		{"join token", "Bearer " + tok.Token, auth.Identity{Kind: auth.KindJoin, Role: auth.RoleJoiner, TokenID: tok.ID}, true, false},
		{"bootstrap token", "Bearer " + boot, auth.Identity{Kind: auth.KindJoin, Role: auth.RoleJoiner, TokenID: "bootstrap"}, true, false},
		{"expired token", "Bearer " + expired, auth.Identity{}, false, true},
		{"unknown token", "Bearer unyoj_nope", auth.Identity{}, false, true},
		{"unknown member", "Bearer unyom_nope", auth.Identity{}, false, true},
		{"a user token", "Bearer unyo_abc", auth.Identity{}, false, false},
		{"none", "", auth.Identity{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/cluster/join", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			id, ok, err := a.Authenticate(r)
			if id != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("= %+v %v %v, want %+v %v err=%v", id, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
	if err := n.RevokeJoinToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok.Token)
	if _, _, err := a.Authenticate(r); !errors.Is(err, ErrBadCredential) {
		t.Fatalf("revoked token: %v", err)
	}
	if got := n.JoinTokens(); len(got) != 1 || got[0].ID != "bootstrap" || got[0].Hash != "" {
		t.Fatalf("JoinTokens = %+v (the expired one pruned by the revoke, hashes hidden)", got)
	}

	// Across a restart the node keeps its credential, and the bootstrap
	// token is not recorded again.
	cred := n.MemberCredential()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n2, err := New(Options{NodeID: "n1", BindAddr: "127.0.0.1:0", DataDir: dir, Bootstrap: true, WALSegmentSize: 1 << 20, BootstrapJoinToken: boot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Stop() })
	if n2.MemberCredential() != cred {
		t.Fatal("credential not reloaded from member.cred")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FuzzForwarded: whatever a member posts to the forward route decodes and
// is checked without a panic, and only forwardable commands pass.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		`{"op":"apply","command":{"type":"targets.set","payload":{"targets":[]}}}`,
		`{"op":"apply","command":{"type":"config.set","payload":{"version":1,"data":"eA==","hash":"sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}}}`,
		`{"op":"apply","command":{"type":"jobnet.op","payload":{}}}`,
		`{"op":"join","node_id":"n2","raft_addr":"127.0.0.1:1","api_addr":"127.0.0.1:2"}`,
		`{"op":"token","ttl":3600000000000}`,
		`{"op":"leave","node_id":"n2"}`,
	} {
		f.Add([]byte(s))
	}
	n := &Node{opts: Options{NodeID: "n1"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if json.Unmarshal(b, &req) != nil {
			return
		}
		err := n.checkForwarded(&req, t0)
		if err == nil && req.Op == OpApply && !forwardable[req.Command.Type] {
			t.Fatalf("%q passed the check", req.Command.Type)
		}
	})
}
