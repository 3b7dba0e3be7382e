package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/agent"
	"github.com/unyo-ops/unyo/rollout"
)

// agentUpdateFlags are the enrolled resident agent's update flags
// (--release-key, --report-interval); the returned func sets them in o.
func agentUpdateFlags(env *Env, c *cobra.Command) func(o *agent.Options) error {
	key := c.Flags().String("release-key", env.Getenv("UNYO_RELEASE_KEY"), "minisign public key file release binaries must be signed with (env UNYO_RELEASE_KEY; empty: updates refused and reported failed)")
	every := c.Flags().Duration("report-interval", agent.DefaultReportEvery, "how often the agent reports its version and update state and reads the cluster's directive")
	return func(o *agent.Options) error {
		if *every < 100*time.Millisecond {
			return usagef("--report-interval: want at least 100ms")
		}
		o.ReportEvery = *every
		if *key != "" {
			k, err := rollout.ReadPublicKey(*key)
			if err != nil {
				return fmt.Errorf("--release-key: %w", err)
			}
			o.ReleaseKey = &k
		}
		return nil
	}
}
