package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/monitor/ping"
)

// Dual-vantage confirmation: before a "host down" from this node's ping
// reaches the bus, another member (at a different site when there is one)
// pings the target too. If the target answers there, the fault is this
// monitor's own path to it: the event becomes "monitoring path fault from
// NODE" (warning, dedup key <target>/monitoring-path/<node>) instead of
// paging anyone for a host that is up. If no other member can be asked, or
// it cannot reach the target either, the host-down event goes out as it
// is, labelled with who confirmed it.

// RecheckPath is where a member asks this node to ping a target.
const RecheckPath = "/v1/cluster/recheck"

// RecheckRequest asks a node to ping an address once.
type RecheckRequest struct {
	Target  string `json:"target"`
	Address string `json:"address"`
}

// RecheckResult is the answer: whether the target replied from here.
type RecheckResult struct {
	Node      string  `json:"node"`
	Reachable bool    `json:"reachable"`
	RTTMillis float64 `json:"rtt_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// recheck pings addr from this node: 3 packets, 200 ms apart.
func (n *Node) recheck(ctx context.Context, req RecheckRequest) RecheckResult {
	res := RecheckResult{Node: n.opts.Name}
	if n.mon == nil || n.mon.pinger == nil {
		res.Error = "no ICMP socket on this node"
		return res
	}
	addr, err := resolve(ctx, req.Address)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	r, err := n.mon.pinger.Ping(ctx, addr, ping.Config{Packets: 3, PacketInterval: 200 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Reachable = r.Received > 0
	if res.Reachable {
		res.RTTMillis = float64(r.Avg.Microseconds()) / 1000
	}
	return res
}

func resolve(ctx context.Context, address string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(address); err == nil {
		return a, nil
	}
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", address)
	if err != nil || len(as) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: %v", address, err)
	}
	return as[0], nil
}

func (n *Node) recheckHandler(w http.ResponseWriter, r *http.Request) {
	var req RecheckRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Address == "" {
		http.Error(w, `{"error":"want {\"target\":..., \"address\":...}"}`, http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(n.recheck(ctx, req))
}

// confirmers lists the members to ask, other sites first, then this site.
func (n *Node) confirmers() []cluster.Member {
	var other, same []cluster.Member
	for _, m := range n.raft.Members() {
		if m.ID == n.opts.Name || m.APIAddr == "" {
			continue
		}
		if m.Site != n.opts.Cluster.Site {
			other = append(other, m)
		} else {
			same = append(same, m)
		}
	}
	return append(other, same...)
}

// confirm applies dual-vantage confirmation to a check event; see above.
func (n *Node) confirm(ctx context.Context, ev incident.Event) incident.Event {
	if n.raft == nil || ev.Source != "ping" || ev.Check != "ping" {
		return ev
	}
	if ev.Status == incident.OK {
		return ev // the path-fault key is cleared by pathOK
	}
	addr := n.targetAddress(ev.Target)
	if addr == "" {
		return ev
	}
	body, _ := json.Marshal(RecheckRequest{Target: ev.Target, Address: addr})
	hc := n.peerClient(5 * time.Second)
	for _, m := range n.confirmers() {
		var res RecheckResult
		req, err := n.memberRequest(ctx, http.MethodPost, n.scheme()+"://"+m.APIAddr+RecheckPath, bytes.NewReader(body))
		if err != nil {
			continue
		}
		resp, err := hc.Do(req)
		if err != nil {
			n.log.Warn("dual-vantage recheck failed", "target", ev.Target, "member", m.ID, "err", err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			n.log.Warn("dual-vantage recheck refused", "target", ev.Target, "member", m.ID, "status", resp.StatusCode)
			continue
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&res)
		resp.Body.Close()
		if err != nil || res.Error != "" {
			n.log.Warn("dual-vantage recheck failed", "target", ev.Target, "member", m.ID, "err", err, "error", res.Error)
			continue
		}
		if !res.Reachable {
			ev.Labels = withLabel(ev.Labels, "confirmed_by", m.ID)
			return ev
		}
		n.log.Warn("monitoring path fault: target answers from another member", "target", ev.Target, "from", n.opts.Name, "answers_at", m.ID)
		ev.Check = "monitoring-path"
		ev.DedupKey = pathKey(ev.Target, n.opts.Name)
		ev.Severity = incident.Warning
		ev.Labels = withLabel(withLabel(ev.Labels, "monitor", n.opts.Name), "answers_at", m.ID)
		ev.Message = fmt.Sprintf("monitoring path fault from %s: %s does not answer ping from %s but answers from %s (%.1f ms)",
			n.opts.Name, ev.Target, n.opts.Name, m.ID, res.RTTMillis)
		return ev
	}
	ev.Labels = withLabel(ev.Labels, "confirmed_by", "none")
	return ev
}

// pathOK is the ok event that ends a path fault of this node for target.
func (n *Node) pathOK(ev incident.Event) incident.Event {
	ok := ev
	ok.ID = ev.ID + "-path"
	ok.Check = "monitoring-path"
	ok.DedupKey = pathKey(ev.Target, n.opts.Name)
	ok.Severity = incident.Warning
	ok.Labels = withLabel(ev.Labels, "monitor", n.opts.Name)
	return ok
}

func pathKey(target, node string) string { return target + "/monitoring-path/" + node }

// withLabel returns a copy of l with k set: an event's labels may be
// shared with the check that produced it, so they are never written in
// place.
func withLabel(l map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(l)+1)
	for a, b := range l {
		out[a] = b
	}
	out[k] = v
	return out
}

func (n *Node) targetAddress(name string) string {
	if n.mon == nil {
		return ""
	}
	for _, t := range n.mon.targetList() {
		if t.Name == name {
			return strings.TrimSpace(t.Address)
		}
	}
	return ""
}
