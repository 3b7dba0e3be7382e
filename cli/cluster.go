package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

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

func runCluster(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("%s", clusterUsage)
	}
	fs := flags(env, "cluster "+args[0])
	server := serverFlag(fs, env)
	out := outputFlag(fs)
	to := fs.String("to", "", "transfer-leadership: the node to hand leadership to (default any)")
	ttl := fs.Duration("ttl", time.Hour, "token create: how long the join token is valid")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	base := strings.TrimRight(server.url, "/")
	switch args[0] {
	case "status":
		if len(pos) > 0 {
			return usagef("%s", clusterUsage)
		}
		var st cluster.Status
		if err := callJSON(ctx, c, http.MethodGet, base+"/v1/cluster/status", nil, &st); err != nil {
			return err
		}
		if *out == "json" {
			return printJSON(env.Stdout, st)
		}
		printClusterStatus(env, st)
		return nil
	case "token":
		return clusterToken(ctx, env, c, base, pos, *ttl, *out)
	case "leave":
		if len(pos) > 1 {
			return usagef("usage: unyo cluster leave [NODE]")
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
		fmt.Fprintf(env.Stdout, "%s left the cluster\n", id)
		return nil
	case "transfer-leadership":
		if len(pos) > 0 {
			return usagef("usage: unyo cluster transfer-leadership [--to NODE]")
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
		fmt.Fprintf(env.Stdout, "leader is now %s\n", st.Leader.ID)
		return nil
	}
	return usagef("unknown cluster command %q\n%s", args[0], clusterUsage)
}

func clusterToken(ctx context.Context, env *Env, c *client.Client, base string, pos []string, ttl time.Duration, out string) error {
	const usage = "usage: unyo cluster token create [--ttl 1h] | list | revoke ID | generate"
	if len(pos) == 0 {
		return usagef("%s", usage)
	}
	switch pos[0] {
	case "create":
		if len(pos) != 1 {
			return usagef("%s", usage)
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
		if out == "json" {
			return printJSON(env.Stdout, ans.Token)
		}
		fmt.Fprintf(env.Stdout, "%s\n", ans.Token.Token)
		fmt.Fprintf(env.Stderr, "join token %s, valid until %s; it is shown only now: give it to the new node as cluster.join_token\n",
			ans.Token.ID, fmtTime(ans.Token.Expires))
		return nil
	case "list":
		var ans struct {
			Tokens []cluster.JoinToken `json:"tokens"`
		}
		if err := callJSON(ctx, c, http.MethodGet, base+node.TokensPath, nil, &ans); err != nil {
			return err
		}
		if out == "json" {
			return printJSON(env.Stdout, ans.Tokens)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEXPIRES\tBY")
		for _, t := range ans.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, fmtTime(t.Expires), dash(t.By))
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 2 {
			return usagef("usage: unyo cluster token revoke ID")
		}
		if err := callJSON(ctx, c, http.MethodPost, base+node.TokensPath+"/revoke", map[string]string{"id": pos[1]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "join token %s revoked\n", pos[1])
		return nil
	case "generate":
		tok, err := cluster.GenerateJoinToken()
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, tok)
		return nil
	}
	return usagef("%s", usage)
}

func printClusterStatus(env *Env, st cluster.Status) {
	fmt.Fprintf(env.Stdout, "node %s (%s), leader %s, term %d, in quorum %v, config v%d, %d targets (%d unassigned)\n\n",
		safe(st.NodeID), st.State, dash(st.Leader.ID), st.Term, st.InQuorum, st.Config.Version, st.Targets, st.Unassigned)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSITE\tRAFT\tAPI\tROLE\tLIVE\tTARGETS")
	for _, m := range st.Members {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case !m.Voter:
			role = "non-voter"
		}
		live := "?"
		if m.Live != nil {
			live = fmt.Sprint(*m.Live)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", safe(m.ID), dash(m.Site), safe(m.RaftAddr), dash(m.APIAddr), role, live, m.AssignedTargets)
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
