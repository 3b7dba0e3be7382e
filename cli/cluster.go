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
  unyo cluster join ADDR                 ask the member at ADDR (http://host:port) to add the node at --server
  unyo cluster leave [NODE]              remove NODE (default: the node at --server)
  unyo cluster transfer-leadership [--to NODE]`

func runCluster(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("%s", clusterUsage)
	}
	fs := flags(env, "cluster "+args[0])
	server := serverFlag(fs, env)
	out := outputFlag(fs)
	to := fs.String("to", "", "transfer-leadership: the node to hand leadership to (default any)")
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
	hc, err := server.httpClient()
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
	case "join":
		if len(pos) != 1 {
			return usagef("usage: unyo cluster join ADDR [--server URL]")
		}
		var self cluster.JoinRequest
		if err := callJSON(ctx, c, http.MethodGet, base+node.SelfPath, nil, &self); err != nil {
			return fmt.Errorf("asking the node to join (%s): %w", base, err)
		}
		if err := node.PostJoin(ctx, hc, pos[0], self); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s joined the cluster via %s\n", self.NodeID, pos[0])
		return nil
	case "leave":
		if len(pos) > 1 {
			return usagef("usage: unyo cluster leave [NODE]")
		}
		id := ""
		if len(pos) == 1 {
			id = pos[0]
		} else {
			var self cluster.JoinRequest
			if err := callJSON(ctx, c, http.MethodGet, base+node.SelfPath, nil, &self); err != nil {
				return err
			}
			id = self.NodeID
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

func printClusterStatus(env *Env, st cluster.Status) {
	fmt.Fprintf(env.Stdout, "node %s (%s), leader %s, term %d, in quorum %v, config v%d, %d targets (%d unassigned)\n\n",
		st.NodeID, st.State, dash(st.Leader.ID), st.Term, st.InQuorum, st.Config.Version, st.Targets, st.Unassigned)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", m.ID, dash(m.Site), m.RaftAddr, dash(m.APIAddr), role, live, m.AssignedTargets)
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
