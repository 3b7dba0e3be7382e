package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Errors keep their meaning across the HTTP hop.
func TestAPIErrorRoundTrip(t *testing.T) {
	leader := LeaderInfo{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "10.0.0.2:8080"}
	tests := []struct {
		err  error
		want []error
	}{
		{&NotLeaderError{Leader: leader}, []error{ErrNotLeader}},
		{&NotLeaderError{}, []error{ErrNotLeader, ErrNoLeader}},
		{fmt.Errorf("apply: %w", ErrStaleConfig), []error{ErrStaleConfig}},
		{fmt.Errorf("x: %w", ErrUnknownCommand), []error{ErrUnknownCommand}},
		{fmt.Errorf("x: %w", ErrBadCommand), []error{ErrBadCommand}},
		{fmt.Errorf("x: %w", raft.ErrLeadershipLost), []error{raft.ErrLeadershipLost}},
		{fmt.Errorf("x: %w", ErrUnknownMember), []error{ErrUnknownMember}},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded}},
		{errors.New("disk on fire"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, tc.err)
			var ar apiResponse
			if err := json.NewDecoder(rec.Body).Decode(&ar); err != nil || ar.Error == nil {
				t.Fatalf("body: %v %+v", err, ar)
			}
			got := ar.Error.err()
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Errorf("%v (code %s, HTTP %d) does not match %v", got, ar.Error.Code, rec.Code, w)
				}
			}
			var nl *NotLeaderError
			if errors.As(tc.err, &nl) && nl.Leader.ID != "" {
				var gotNL *NotLeaderError
				if !errors.As(got, &gotNL) || gotNL.Leader != leader {
					t.Errorf("leader hint lost: %+v", got)
				}
			}
			if rec.Code < 400 {
				t.Errorf("HTTP %d for an error", rec.Code)
			}
		})
	}
}

func TestHandlersRejectBadRequests(t *testing.T) {
	n, err := New(Options{NodeID: "n1", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if _, err := EnsureSecretKey(n.opts.DataDir); err != nil {
		t.Fatal(err)
	}
	big := `{"node_id":"` + strings.Repeat("a", MaxJoinBody) + `"}`
	tests := []struct {
		name   string
		h      http.Handler
		method string
		body   string
		status int
		code   string
	}{
		{"GET on forward", n.ForwardHandler(), http.MethodGet, "", http.StatusMethodNotAllowed, "method"},
		{"unknown field", n.ForwardHandler(), http.MethodPost, `{"op":"apply","bogus":1}`, http.StatusBadRequest, "bad_command"},
		{"unknown op", n.ForwardHandler(), http.MethodPost, `{"op":"dance"}`, http.StatusBadRequest, "bad_command"},
		{"not started", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"token.revoke","payload":{"id":"a"}}}`, http.StatusServiceUnavailable, "not_started"},
		{"raw targets.set", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"targets.set","payload":{"targets":[]}}}`, http.StatusForbidden, "forbidden"},
		{"raw assign.update", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"assign.update","payload":{"moves":[]}}}`, http.StatusForbidden, "forbidden"},
		{"raw member.upsert", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"member.upsert","payload":{"id":"x","raft_addr":"x:1"}}}`, http.StatusForbidden, "forbidden"},
		{"raw member.cred", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"member.cred","payload":{"id":"x"}}}`, http.StatusForbidden, "forbidden"},
		{"config hash mismatch", n.ForwardHandler(), http.MethodPost, `{"op":"apply","command":{"type":"config.set","payload":{"version":1,"data":"eA==","hash":"sha256:00"}}}`, http.StatusBadRequest, "bad_command"},
		{"forwarded join bad id", n.ForwardHandler(), http.MethodPost, `{"op":"join","node_id":"../x","raft_addr":"x:1"}`, http.StatusBadRequest, "bad_command"},
		{"token ttl too long", n.ForwardHandler(), http.MethodPost, `{"op":"token","ttl":999999999999999999}`, http.StatusBadRequest, "bad_command"},
		{"two values", n.ForwardHandler(), http.MethodPost, `{"op":"leave","node_id":"a"} {}`, http.StatusBadRequest, "bad_command"},
		{"join without id", n.JoinHandler(), http.MethodPost, `{"raft_addr":"x:1"}`, http.StatusBadRequest, "bad_command"},
		{"join bad api addr", n.JoinHandler(), http.MethodPost, `{"node_id":"n2","raft_addr":"x:1","api_addr":"nohost"}`, http.StatusBadRequest, "bad_command"},
		{"join too large", n.JoinHandler(), http.MethodPost, big, http.StatusRequestEntityTooLarge, "too_large"},
		{"leave too large", n.LeaveHandler(), http.MethodPost, `{"node_id":"` + strings.Repeat("a", MaxSmallBody) + `"}`, http.StatusRequestEntityTooLarge, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body)))
			var ar apiResponse
			_ = json.NewDecoder(rec.Body).Decode(&ar)
			if rec.Code != tc.status || ar.Error == nil || ar.Error.Code != tc.code {
				t.Errorf("HTTP %d %+v, want %d %s", rec.Code, ar.Error, tc.status, tc.code)
			}
		})
	}
	rec := httptest.NewRecorder()
	n.StatusHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var st Status
	if err := json.NewDecoder(rec.Body).Decode(&st); err != nil || st.NodeID != "n1" || st.State != "Shutdown" {
		t.Errorf("status: %v %+v", err, st)
	}
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")
	l.Debug("hidden", "k", 1)
	l.Named("snap").With("peer", "n2").Warn("slow", "ms", 12)
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] boom")
	out := buf.String()
	for _, want := range []string{`level=WARN msg=slow logger=raft.snap peer=n2 ms=12`, `level=ERROR msg=boom`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") || l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels wrong:\n%s", out)
	}
}
