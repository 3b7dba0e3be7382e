package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
)

// A jobnet request on a node without a leader is a 503 that keeps the
// cluster's words, not a 500.
func TestJobnetErrNoLeaderIsUnavailable(t *testing.T) {
	for _, err := range []error{cluster.ErrNoQuorum, cluster.ErrNoLeader, &cluster.NotLeaderError{}} {
		got := jobnetErr(fmt.Errorf("propose: %w", err))
		if !errors.Is(got, console.ErrUnavailable) || got.Error() != "propose: "+err.Error() {
			t.Errorf("%v → %v, want ErrUnavailable with the same message", err, got)
		}
	}
}
