package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
)

// MaxTags bounds an agent's tags.
const MaxTags = 32

// TagsRequest changes an agent's tags (PUT /api/v1/agents/{name}/tags):
// Set replaces them all when given; else Add and Remove apply.
type TagsRequest struct {
	Set    *[]string `json:"set,omitempty"`
	Add    []string  `json:"add,omitempty"`
	Remove []string  `json:"remove,omitempty"`
}

// TagsNotice tells an agent its tags (bus.AgentTagsSubject.NAME, node →
// agent).
type TagsNotice struct {
	Tags []string `json:"tags"`
}

// CheckTags validates tags: single words (NameRE), at most MaxTags.
func CheckTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d", ErrBadRequest, len(tags), MaxTags)
	}
	for _, t := range tags {
		if !NameRE.MatchString(t) {
			return fmt.Errorf("%w: tag %q: one word of 1 to 63 of A-Z, a-z, 0-9, '-', '_' (starting with a letter or digit)", ErrBadRequest, t)
		}
	}
	return nil
}

// normTags is tags sorted, without duplicates, never nil.
func normTags(tags []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(tags)))
	if out == nil {
		out = []string{}
	}
	return out
}

// SetTags changes agent's tags as req says and returns them. The agent
// is told at once (it takes the new tags' tasks from its next
// connection, which it makes then); the NATS directory of every node
// follows.
func (s *Service) SetTags(ctx context.Context, nc *nats.Conn, name string, req TagsRequest) ([]string, error) {
	if err := CheckTags(append(append([]string{}, req.Add...), req.Remove...)); err != nil {
		return nil, err
	}
	a, err := s.o.Store.GetAgent(ctx, name)
	if err != nil {
		return nil, err
	}
	tags := a.Tags
	if req.Set != nil {
		if err := CheckTags(*req.Set); err != nil {
			return nil, err
		}
		tags = *req.Set
	}
	tags = slices.DeleteFunc(append(slices.Clone(tags), req.Add...), func(t string) bool { return slices.Contains(req.Remove, t) })
	tags = normTags(tags)
	if err := CheckTags(tags); err != nil {
		return nil, err
	}
	if err := s.o.Store.SetAgentTags(ctx, name, tags); err != nil {
		return nil, err
	}
	_ = s.Refresh(ctx)
	s.log.Info("agent tags set", "agent", name, "tags", tags)
	if nc != nil {
		b, _ := json.Marshal(TagsNotice{Tags: tags})
		if err := nc.Publish(bus.AgentTagsSubject+"."+name, b); err != nil {
			s.log.Warn("agent not told its tags (it learns them with its next inventory)", "agent", name, "err", err)
		}
	}
	return tags, nil
}

// TagsOf returns the tags of the enrolled, enabled agent called name
// (from the directory, in memory): what the job network takes a tag's
// results from.
func (s *Service) TagsOf(name string) ([]string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.byNKey {
		if a.Name == name && !a.Disabled {
			return slices.Clone(a.Tags), true
		}
	}
	return nil, false
}

// registerTags adds the tags route.
func registerTags(m *auth.Mux, h *api) {
	m.HandleFunc("PUT /api/v1/agents/{name}/tags", auth.ActionAgentTag, h.setTags)
}

func (h *api) setTags(w http.ResponseWriter, r *http.Request) {
	var req TagsRequest
	if !decode(w, r, &req, 16<<10) {
		return
	}
	tags, err := h.s.SetTags(r.Context(), h.nc(), r.PathValue("name"), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	auth.Note(r.Context(), "agent "+r.PathValue("name")+" tags ["+strings.Join(tags, ",")+"]")
	writeJSON(w, http.StatusOK, TagsNotice{Tags: tags})
}
