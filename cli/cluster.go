package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/node"
)

const clusterUsage = `usage:
  unyo cluster status [-o table|json]
  unyo cluster leave [NODE]              remove NODE (default: the node at --server)
  unyo cluster transfer-leadership [--to NODE]
  unyo cluster token create [--ttl 1h]   make a join token (admin; shown once)
  unyo cluster token list                the live join tokens (ids and expiries)
  unyo cluster token revoke ID
  unyo cluster token generate            print a new token for cluster.bootstrap_join_token (offline)

A new node joins with cluster.join and cluster.join_token in its config.
Cluster routes need a credential (unyo login, UNYO_TOKEN).`

func clusterCmd(env *Env) *cobra.Command {
	status := &cobra.Command{Use: "status", Short: "the members, the leader, quorum and who is live", ValidArgsFunction: noArgs}
	sa := newAPICmd(env, status)
	status.RunE = run(func(ctx context.Context, pos []string) error {
		c, base, err := sa.clusterClient(pos, 0, clusterUsage)
		if err != nil {
			return err
		}
		var st cluster.Status
		if err := callJSON(ctx, c, http.MethodGet, base+"/v1/cluster/status", nil, &st); err != nil {
			return err
		}
		live := memberLiveness(ctx, c, base, &st)
		if sa.json() {
			return printJSON(env.Stdout, st)
		}
		printClusterStatus(env, st, live)
		return nil
	})

	leave := &cobra.Command{Use: "leave [NODE]", Short: "remove NODE from the cluster (default: the node at --server)", ValidArgsFunction: noArgs}
	la := newAPICmd(env, leave)
	leave.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 1 {
			return usagef("usage: unyo cluster leave [NODE]")
		}
		c, base, err := la.clusterClient(nil, 0, clusterUsage)
		if err != nil {
			return err
		}
		id := ""
		if len(pos) == 1 {
			id = pos[0]
		} else {
			var st cluster.Status
			if err := callJSON(ctx, c, http.MethodGet, base+"/v1/cluster/status", nil, &st); err != nil {
				return err
			}
			id = st.NodeID
		}
		if err := callJSON(ctx, c, http.MethodPost, base+"/v1/cluster/leave", map[string]string{"node_id": id}, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s left the cluster\n", safe(id))
		return nil
	})

	transfer := &cobra.Command{Use: "transfer-leadership", Short: "hand the leadership to another voter", ValidArgsFunction: noArgs}
	ta := newAPICmd(env, transfer)
	to := transfer.Flags().String("to", "", "the node to hand leadership to (default any)")
	transfer.RunE = run(func(ctx context.Context, pos []string) error {
		c, base, err := ta.clusterClient(pos, 0, "usage: unyo cluster transfer-leadership [--to NODE]")
		if err != nil {
			return err
		}
		if err := callJSON(ctx, c, http.MethodPost, base+"/v1/cluster/transfer-leadership", map[string]string{"to": *to}, nil); err != nil {
			return err
		}
		var st cluster.Status
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if callJSON(ctx, c, http.MethodGet, base+"/v1/cluster/status", nil, &st) == nil && st.Leader.ID != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(env.Stdout, "leader is now %s\n", safe(st.Leader.ID))
		return nil
	})

	return group("cluster", "Raft membership: status, join, leave, transfer-leadership",
		"A new node joins with cluster.join and cluster.join_token in its config.\n"+
			"Cluster routes need a credential (unyo login, UNYO_TOKEN).",
		status, leave, transfer, clusterTokenCmd(env), clusterDecommissionCmd(env))
}

// clusterClient checks the positional arguments and -o, and returns a
// client and the node's base URL.
func (a *apiCmd) clusterClient(pos []string, nargs int, usage string) (*client.Client, string, error) {
	c, err := a.connect(pos, nargs, usage)
	if err != nil {
		return nil, "", err
	}
	return c, strings.TrimRight(a.server.url, "/"), nil
}

func clusterTokenCmd(env *Env) *cobra.Command {
	const usage = "usage: unyo cluster token create [--ttl 1h] | list | revoke ID | generate"
	create := &cobra.Command{Use: "create", Short: "make a join token (admin; shown once)", ValidArgsFunction: noArgs}
	ca := newAPICmd(env, create)
	ttl := create.Flags().Duration("ttl", time.Hour, "how long the join token is valid")
	create.RunE = run(func(ctx context.Context, pos []string) error {
		c, base, err := ca.clusterClient(pos, 0, usage)
		if err != nil {
			return err
		}
		var ans struct {
			Token *cluster.CreatedToken `json:"token"`
		}
		if err := callJSON(ctx, c, http.MethodPost, base+node.TokensPath, map[string]string{"ttl": ttl.String()}, &ans); err != nil {
			return err
		}
		if ans.Token == nil {
			return fmt.Errorf("the node answered no token")
		}
		if ca.json() {
			return printJSON(env.Stdout, ans.Token)
		}
		fmt.Fprintf(env.Stdout, "%s\n", ans.Token.Token)
		fmt.Fprintf(env.Stderr, "join token %s, valid until %s; it is shown only now: give it to the new node as cluster.join_token\n",
			safe(ans.Token.ID), fmtTime(ans.Token.Expires))
		return nil
	})

	list := &cobra.Command{Use: "list", Short: "the live join tokens (ids and expiries)", ValidArgsFunction: noArgs}
	lia := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, base, err := lia.clusterClient(pos, 0, usage)
		if err != nil {
			return err
		}
		var ans struct {
			Tokens []cluster.JoinToken `json:"tokens"`
		}
		if err := callJSON(ctx, c, http.MethodGet, base+node.TokensPath, nil, &ans); err != nil {
			return err
		}
		if lia.json() {
			return printJSON(env.Stdout, ans.Tokens)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tEXPIRES\tBY")
		for _, t := range ans.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(t.ID), fmtTime(t.Expires), dash(t.By))
		}
		return tw.Flush()
	})

	revoke := &cobra.Command{Use: "revoke ID", Short: "revoke a join token", ValidArgsFunction: noArgs}
	ra := newAPICmd(env, revoke)
	revoke.RunE = run(func(ctx context.Context, pos []string) error {
		c, base, err := ra.clusterClient(pos, 1, "usage: unyo cluster token revoke ID")
		if err != nil {
			return err
		}
		if err := callJSON(ctx, c, http.MethodPost, base+node.TokensPath+"/revoke", map[string]string{"id": pos[0]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "join token %s revoked\n", safe(pos[0]))
		return nil
	})

	generate := &cobra.Command{Use: "generate", Short: "print a new token for cluster.bootstrap_join_token (offline)", ValidArgsFunction: noArgs}
	generate.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("unexpected argument %q\n%s", pos[0], usage)
		}
		tok, err := cluster.GenerateJoinToken()
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, tok)
		return nil
	})
	return group("token", "make, list, revoke join tokens", "", create, list, revoke, generate)
}

// probeTimeout bounds each call cluster status makes besides the first:
// to the leader, and to each member.
const probeTimeout = 3 * time.Second

// memberLiveness completes st, the status of the node at base, with what
// only others know. Liveness is known on the leader: on a follower the
// leader is asked, and its view of each member replaces the unknown one.
// Every other member's API is then asked too, each within probeTimeout and
// at the same time: one that does not answer is "unreachable" (and not
// live in st), whatever the leader last saw. It returns the LIVE text of
// each member.
func memberLiveness(ctx context.Context, c *client.Client, base string, st *cluster.Status) map[string]string {
	scheme := "http"
	if u, err := url.Parse(base); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	get := func(addr string) (cluster.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		var s cluster.Status
		err := callJSON(ctx, c, http.MethodGet, scheme+"://"+addr+"/v1/cluster/status", nil, &s)
		return s, err
	}
	if st.State != "Leader" && st.Leader.APIAddr != "" {
		if ls, err := get(st.Leader.APIAddr); err == nil && ls.NodeID == st.Leader.ID {
			byID := map[string]*bool{}
			for _, m := range ls.Members {
				byID[m.ID] = m.Live
			}
			for i := range st.Members {
				if l, ok := byID[st.Members[i].ID]; ok && l != nil {
					st.Members[i].Live = l
				}
			}
		}
	}
	answered := make([]bool, len(st.Members))
	var wg sync.WaitGroup
	for i, m := range st.Members {
		if m.ID == st.NodeID {
			answered[i] = true // it answered this command
			continue
		}
		if m.APIAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := get(m.APIAddr)
			var ce *client.Error
			// Any answer of the node's API (even a refusal) means it is up.
			answered[i] = err == nil || errors.As(err, &ce) || strings.Contains(err.Error(), ": HTTP ")
		}()
	}
	wg.Wait()
	texts := map[string]string{}
	for i := range st.Members {
		m := &st.Members[i]
		switch {
		case !answered[i] && m.APIAddr != "":
			f := false
			m.Live = &f
			texts[m.ID] = "unreachable"
		case m.Live == nil:
			texts[m.ID] = "?"
		case *m.Live:
			texts[m.ID] = "yes"
		default:
			texts[m.ID] = "no"
		}
	}
	return texts
}

func printClusterStatus(env *Env, st cluster.Status, live map[string]string) {
	fmt.Fprintf(env.Stdout, "node %s (%s), leader %s, term %d, in quorum %v, config v%d, %d targets (%d unassigned)\n\n",
		safe(st.NodeID), st.State, dash(st.Leader.ID), st.Term, st.InQuorum, st.Config.Version, st.Targets, st.Unassigned)
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "MEMBER\tSITE\tRAFT\tAPI\tROLE\tLIVE\tTARGETS")
	for _, m := range st.Members {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case !m.Voter:
			role = "non-voter"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", safe(m.ID), dash(m.Site), safe(m.RaftAddr), dash(m.APIAddr), role, live[m.ID], m.AssignedTargets)
	}
	tw.Flush()
}

// callJSON sends an optional JSON body and decodes a JSON answer; a
// cluster API error {"error": {...}} becomes an error.
func callJSON(ctx context.Context, c *client.Client, method, url string, in, out any) error {
	var body *strings.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("%s %s: HTTP %d: %w", method, url, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// callRaw posts a raw body and decodes the JSON answer.
func callRaw(ctx context.Context, c *client.Client, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("POST %s: HTTP %d: %w", url, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
