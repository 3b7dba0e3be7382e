package agentstest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
)

// runTags checks SetAgentTags: it replaces the tags and nothing else.
func runTags(t *testing.T, open func(t *testing.T) agents.Store) {
	t.Run("SetAgentTags", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a := agents.Agent{Name: "web01", HostID: "h9", Group: "web", Version: "1.0", Kind: agents.KindResident,
			Tags: []string{"linux"}, Enrolled: T0, LastSeen: T0.Add(time.Minute), Slots: 2}
		if err := s.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, tags := range [][]string{{"batch", "linux"}, {}, {"web"}} {
			if err := s.SetAgentTags(ctx, "web01", tags); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetAgent(ctx, "web01")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Tags, tags) && !(len(tags) == 0 && len(got.Tags) == 0) {
				t.Errorf("tags %v after SetAgentTags(%v)", got.Tags, tags)
			}
			if got.HostID != "h9" || got.Group != "web" || got.Slots != 2 || !got.LastSeen.Equal(a.LastSeen) {
				t.Errorf("SetAgentTags changed more than the tags: %+v", got)
			}
		}
		if err := s.SetAgentTags(ctx, "nobody", []string{"x"}); !errors.Is(err, agents.ErrNotFound) {
			t.Errorf("SetAgentTags of an unknown agent: %v", err)
		}
	})
}
