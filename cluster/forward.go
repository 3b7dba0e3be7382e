package cluster

import (
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/unyo-ops/unyo/jobnet/runstate"
	"github.com/unyo-ops/unyo/rollout/fleetstate"
)

// What a member may forward to the leader. A follower forwards what an
// operator or its own engine asked of it — a configuration, a job network
// run change, a join, leave, leadership transfer or join token — and
// never the commands only the leader proposes itself (member records,
// credentials, the target list and the assignment): those are refused
// with ErrForbidden, so a member credential alone cannot empty the
// assignment or rewrite membership.
var forwardable = map[string]bool{
	CmdConfigSet:   true, // validated by Options.ValidateConfig
	CmdJobnetOp:    true, // validated by runstate.Decode
	CmdFleetOp:     true, // validated by fleetstate.Decode
	CmdTokenRevoke: true,
}

// maxClockSkew is how far a forwarded command's time may be from the
// leader's clock; beyond it the leader stamps its own time (the FSM's only
// clock must not be set by a caller).
const maxClockSkew = time.Minute

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// validate checks a join request field by field; strict (a request off
// the network) also wants the API address as host:port.
func (j JoinRequest) validate(strict bool) error {
	if !nodeIDRE.MatchString(j.NodeID) {
		return fmt.Errorf("%w: node_id %q: want 1 to 64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)", ErrBadCommand, j.NodeID)
	}
	if !printable(j.RaftAddr) {
		// The transport decides its form (host:port for TCP).
		return fmt.Errorf("%w: raft_addr %q: want 1 to 255 printable characters", ErrBadCommand, j.RaftAddr)
	}
	if j.APIAddr != "" && !printable(j.APIAddr) {
		return fmt.Errorf("%w: api_addr %q: want host:port", ErrBadCommand, j.APIAddr)
	}
	if j.APIAddr != "" && strict {
		if err := checkAddr(j.APIAddr); err != nil {
			return fmt.Errorf("%w: api_addr %q: %v", ErrBadCommand, j.APIAddr, err)
		}
	}
	if len(j.Site) > 64 {
		return fmt.Errorf("%w: site: longer than 64 characters", ErrBadCommand)
	}
	return nil
}

func printable(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func checkAddr(a string) error {
	if len(a) > 255 {
		return fmt.Errorf("longer than 255 characters")
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if h == "" || p == "" || p == "0" {
		return fmt.Errorf("want host:port")
	}
	return nil
}

// checkForwarded refuses a forwarded request a member may not send, and
// validates the rest like any other input. It may re-stamp the command's
// time (see maxClockSkew).
func (n *Node) checkForwarded(req *Request, now time.Time) error {
	switch req.Op {
	case OpJoin:
		return JoinRequest{NodeID: req.NodeID, RaftAddr: req.RaftAddr, Site: req.Site, APIAddr: req.APIAddr}.validate(true)
	case OpLeave:
		if !nodeIDRE.MatchString(req.NodeID) {
			return fmt.Errorf("%w: leave: node_id %q", ErrBadCommand, req.NodeID)
		}
		return nil
	case OpTransfer:
		if req.NodeID != "" && !nodeIDRE.MatchString(req.NodeID) {
			return fmt.Errorf("%w: transfer: node_id %q", ErrBadCommand, req.NodeID)
		}
		return nil
	case OpToken:
		if req.TTL <= 0 || req.TTL > MaxJoinTokenTTL {
			return fmt.Errorf("%w: token: ttl %s", ErrBadCommand, req.TTL)
		}
		return nil
	case OpApply:
	default:
		return fmt.Errorf("%w: unknown op %q", ErrBadCommand, req.Op)
	}
	c := req.Command
	if c == nil {
		return fmt.Errorf("%w: apply without command", ErrBadCommand)
	}
	if !forwardable[c.Type] {
		return fmt.Errorf("%w: a member may not forward %q commands (only the leader proposes them)", ErrForbidden, c.Type)
	}
	if d := c.At.Sub(now); c.At.IsZero() || d > maxClockSkew || d < -maxClockSkew {
		c.At = now.UTC()
	}
	switch c.Type {
	case CmdConfigSet:
		var cs ConfigSet
		if err := decodePayload(c.Payload, &cs); err != nil {
			return err
		}
		if cs.Hash != ConfigHash(cs.Data) {
			return fmt.Errorf("%w: config hash does not match its data", ErrBadCommand)
		}
		if len(cs.Data) > MaxConfigSize {
			return fmt.Errorf("%w: config of %d bytes, at most %d", ErrTooLarge, len(cs.Data), MaxConfigSize)
		}
		if v := n.opts.ValidateConfig; v != nil {
			if err := v(cs.Data); err != nil {
				return fmt.Errorf("%w: config: %v", ErrBadCommand, err)
			}
		}
	case CmdJobnetOp:
		if _, err := runstate.Decode(c.Payload); err != nil {
			return fmt.Errorf("%w: jobnet op: %v", ErrBadCommand, err)
		}
	case CmdFleetOp:
		if _, err := fleetstate.Decode(c.Payload); err != nil {
			return fmt.Errorf("%w: fleet op: %v", ErrBadCommand, err)
		}
	case CmdTokenRevoke:
		var r TokenRevoke
		if err := decodePayload(c.Payload, &r); err != nil {
			return err
		}
	}
	return nil
}
