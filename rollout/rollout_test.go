package rollout

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/unyo-ops/unyo/jobnet"
)

func TestVerifyFile(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := minisign.GenerateKey(rand.Reader)
	path := filepath.Join(dir, "bin")
	if err := os.WriteFile(path, []byte("a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	legacy := string(minisign.Sign(priv, []byte("a binary")))
	f, _ := os.Open(path)
	r := minisign.NewReader(f)
	_, _ = r.Read(make([]byte, 64))
	hashed := string(r.Sign(priv))
	f.Close()
	for name, sig := range map[string]string{"legacy": legacy, "prehashed": hashed} {
		sum, n, err := VerifyFile(pub, path, sig)
		if err != nil || n != 8 || len(sum) != 64 {
			t.Errorf("%s: %s %d %v", name, sum, n, err)
		}
		if _, _, err := VerifyFile(other, path, sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s with another key: %v", name, err)
		}
	}
	_ = os.WriteFile(path, []byte("a binarY"), 0o755)
	if _, _, err := VerifyFile(pub, path, hashed); !errors.Is(err, ErrSignature) {
		t.Errorf("changed binary: %v", err)
	}
}

func TestOpenDirective(t *testing.T) {
	s, err := jobnet.GenerateSigner("n1")
	if err != nil {
		t.Fatal(err)
	}
	v := jobnet.NewVerifier(s.PublicKey())
	now := time.Now()
	b, _ := json.Marshal(Directive{Agent: "a1", Issued: now, Expires: now.Add(time.Minute), Mode: ModeRefuse})
	msg, _ := s.SignMessage(DirectiveKind, b)
	if d, err := OpenDirective(v, "a1", msg, now); err != nil || d.Mode != ModeRefuse {
		t.Fatalf("%+v %v", d, err)
	}
	for name, tc := range map[string]struct {
		agent string
		at    time.Time
		kind  string
	}{
		"another agent": {"a2", now, DirectiveKind},
		"expired":       {"a1", now.Add(2 * time.Minute), DirectiveKind},
		"another kind":  {"a1", now, "task"},
	} {
		m, _ := s.SignMessage(tc.kind, b)
		if _, err := OpenDirective(v, tc.agent, m, tc.at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	task, _ := s.Sign("agent:a1", jobnet.Task{Run: "r", Job: "j", Attempt: 1})
	if _, err := OpenDirective(v, "a1", task, now); err == nil {
		t.Error("a signed task was taken for a directive")
	}
}

func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(`{"agent":"a1","version":"1.0","platform":"linux/amd64","state":"downloading","progress":30}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReport(b)
		if err == nil && r.op().Validate() != nil {
			t.Fatal("decoded report does not validate")
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add("untrusted comment: x\nRUQ=\ntrusted comment: y\nZZ==\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseSignature(s) })
}

// TestMoveSelect: a move by group takes the configured agents with that
// tag and the enrolled agents of that enrolment group, each once; a
// move of all takes every configured, enrolled and reported agent.
func TestMoveSelect(t *testing.T) {
	known := map[string][]string{"cfg-web": {"web", "linux"}, "cfg-db": {"db"}, "both": {"web"}}
	enrolled := map[string]string{"enr-web": "web", "enr-db": "db", "enr-default": "default", "both": "web"}
	reported := []string{"old-agent", "enr-web"}
	for _, tc := range []struct {
		name  string
		group string
		all   bool
		want  []string
	}{
		{"group web", "web", false, []string{"both", "cfg-web", "enr-web"}},
		{"group db", "db", false, []string{"cfg-db", "enr-db"}},
		{"group default", "default", false, []string{"enr-default"}},
		{"a tag of a configured agent only", "linux", false, []string{"cfg-web"}},
		{"no such group", "mail", false, []string{}},
		{"all", "", true, []string{"both", "cfg-db", "cfg-web", "enr-db", "enr-default", "enr-web", "old-agent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := moveSelect(known, enrolled, reported, tc.group, tc.all)
			if !slices.Equal(got, tc.want) {
				t.Errorf("moveSelect(%q, all=%v) = %q, want %q", tc.group, tc.all, got, tc.want)
			}
		})
	}
}
