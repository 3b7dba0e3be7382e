package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/unyo-ops/unyo/agents"
)

// TestAgentsTagArgs: `unyo agents tag NAME +T -T` and --set, with flags
// before or after the tags, send what they say; a bad tag or no change
// is a usage error and sends nothing.
func TestAgentsTagArgs(t *testing.T) {
	var mu sync.Mutex
	var got []agents.TagsRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/api/v1/agents/web01/tags" {
			http.Error(w, `{"error":"unexpected"}`, http.StatusNotFound)
			return
		}
		var req agents.TagsRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(agents.TagsNotice{Tags: []string{"batch"}})
	}))
	defer srv.Close()
	env := map[string]string{"UNYO_TOKEN": "t"}
	for _, c := range []struct {
		args []string
		want string // the request's JSON
	}{
		{[]string{"agents", "tag", "web01", "+batch", "-linux", "--server", srv.URL}, `{"add":["batch"],"remove":["linux"]}`},
		{[]string{"agents", "tag", "--server", srv.URL, "web01", "-linux", "-o", "json"}, `{"remove":["linux"]}`},
		{[]string{"agents", "tag", "web01", "--set", "batch,db", "--server=" + srv.URL}, `{"set":["batch","db"]}`},
		{[]string{"agents", "tag", "web01", "--set=", "--server=" + srv.URL}, `{"set":[]}`},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		out, errOut, code := runEnv(t, env, c.args...)
		mu.Lock()
		if code != 0 || len(got) != 1 {
			t.Errorf("%v: exit %d, %d requests\n%s%s", c.args, code, len(got), out, errOut)
		} else if b, _ := json.Marshal(got[0]); string(b) != c.want {
			t.Errorf("%v: sent %s, want %s", c.args, b, c.want)
		}
		mu.Unlock()
	}
	for _, args := range [][]string{
		{"agents", "tag", "web01", "--server", srv.URL},
		{"agents", "tag", "web01", "+two.words", "--server", srv.URL},
		{"agents", "tag", "web01", "batch", "--server", srv.URL},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		_, errOut, code := runEnv(t, env, args...)
		mu.Lock()
		if code != 2 || len(got) != 0 || !strings.Contains(errOut, "usage") && !strings.Contains(errOut, "tag") {
			t.Errorf("%v: exit %d, %d requests, stderr %q; want a usage error and nothing sent", args, code, len(got), errOut)
		}
		mu.Unlock()
	}
}
