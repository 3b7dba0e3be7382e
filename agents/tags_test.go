package agents_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
)

// TestSetTags: tags are single words, at most MaxTags; add, remove and
// set apply and are kept sorted without duplicates; the directory (what
// NATS permissions and the job network's tag results are decided by)
// follows at once; a disabled agent has none there.
func TestSetTags(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := agents.New(agents.Options{Store: st})
	if err := st.PutAgent(ctx, agents.Agent{Name: "web01", Group: "web", Kind: agents.KindResident, NKey: "UWEB01",
		Tags: []string{"linux"}, Enrolled: time.Now()}); err != nil {
		t.Fatal(err)
	}
	set := func(v ...string) *[]string { return &v }
	for _, c := range []struct {
		req  agents.TagsRequest
		want []string
	}{
		{agents.TagsRequest{Add: []string{"batch", "batch", "db"}}, []string{"batch", "db", "linux"}},
		{agents.TagsRequest{Remove: []string{"db", "absent"}}, []string{"batch", "linux"}},
		{agents.TagsRequest{Set: set("z", "a"), Add: []string{"m"}, Remove: []string{"z"}}, []string{"a", "m"}},
		{agents.TagsRequest{Set: set()}, []string{}},
		{agents.TagsRequest{Add: []string{"batch"}}, []string{"batch"}},
	} {
		got, err := s.SetTags(ctx, nil, "web01", c.req)
		if err != nil || !slices.Equal(got, c.want) {
			t.Fatalf("SetTags(%+v) = %v, %v; want %v", c.req, got, err, c.want)
		}
		a, _ := st.GetAgent(ctx, "web01")
		if !slices.Equal(a.Tags, c.want) && len(a.Tags)+len(c.want) > 0 {
			t.Errorf("stored tags %v, want %v", a.Tags, c.want)
		}
		if dir, ok := s.TagsOf("web01"); !ok || !slices.Equal(dir, c.want) && len(dir)+len(c.want) > 0 {
			t.Errorf("directory tags %v %v, want %v", dir, ok, c.want)
		}
	}
	many := make([]string, agents.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, bad := range []agents.TagsRequest{
		{Add: []string{"two words"}}, {Add: []string{"a.b"}}, {Add: []string{"*"}}, {Remove: []string{""}},
		{Set: set("ok", "-dash")}, {Add: many},
	} {
		if _, err := s.SetTags(ctx, nil, "web01", bad); !errors.Is(err, agents.ErrBadRequest) {
			t.Errorf("SetTags(%+v) = %v, want a bad request", bad, err)
		}
	}
	if _, err := s.SetTags(ctx, nil, "nobody", agents.TagsRequest{Add: []string{"x"}}); !errors.Is(err, agents.ErrNotFound) {
		t.Errorf("unknown agent: %v", err)
	}
	a, _ := st.GetAgent(ctx, "web01")
	a.Disabled = true
	if err := st.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if tags, ok := s.TagsOf("web01"); ok {
		t.Errorf("a disabled agent's tags are in the directory: %v", tags)
	}
}

// TestEnrollTags: enrolment takes the agent's tags (sorted, checked) and
// answers them; a re-enrolment of the same host without tags keeps those
// an admin gave since, one with tags replaces them.
func TestEnrollTags(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := agents.New(agents.Options{Store: st})
	id := auth.Identity{Kind: auth.KindEnroll, Name: "web", Role: auth.RoleEnroller, TokenID: "enr_1"}
	enroll := func(tags ...string) (agents.EnrollResponse, error) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		sk, _, _ := ed25519.GenerateKey(nil)
		return s.Enroll(ctx, id, agents.EnrollRequest{Name: "web01", HostID: "h1", NKey: pub, SignKey: hex.EncodeToString(sk), Tags: tags})
	}
	if _, err := enroll("two words"); !errors.Is(err, agents.ErrBadRequest) {
		t.Errorf("enrol with a bad tag: %v", err)
	}
	r, err := enroll("linux", "batch", "linux")
	if err != nil || !slices.Equal(r.Tags, []string{"batch", "linux"}) {
		t.Fatalf("enrol: %+v, %v", r, err)
	}
	if _, err := s.SetTags(ctx, nil, "web01", agents.TagsRequest{Add: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	if r, err = enroll(); err != nil || !slices.Equal(r.Tags, []string{"batch", "db", "linux"}) {
		t.Errorf("re-enrol without tags: %+v, %v; want the tags kept", r.Tags, err)
	}
	if r, err = enroll("web"); err != nil || !slices.Equal(r.Tags, []string{"web"}) {
		t.Errorf("re-enrol with a tag: %+v, %v; want [web]", r.Tags, err)
	}
}
