package agent

import (
	"context"
	"runtime"
	"time"

	"github.com/unyo-ops/unyo/rollout"
)

// DefaultReportEvery is how often an enrolled agent reports its version
// and update state to the cluster (Options.ReportEvery).
const DefaultReportEvery = 10 * time.Second

// Updater is the enrolled agent's side of rollouts (rollout.Updater): it
// reports on the agent's own subject, follows the cluster's signed
// directives (updating itself with the release key, keeping the rollback
// copy and its markers in the state directory) and gates the job runner
// on the release mode. Re-homing an enrolled agent is not done here: a
// move order is reported as failed.
func (a *Agent) Updater() *rollout.Updater {
	every := a.o.ReportEvery
	if every <= 0 {
		every = DefaultReportEvery
	}
	return &rollout.Updater{Name: a.st.Name, NC: a.nc, Trust: a.trust, Version: a.o.Version,
		Platform: runtime.GOOS + "/" + runtime.GOARCH, ReleaseKey: a.o.ReleaseKey, StateDir: a.o.Dir,
		Every: every, Logger: a.log}
}

// startUpdater reports once (so that the release mode is known before the
// first job), then keeps reporting until ctx ends. It returns the job
// gate.
func (a *Agent) startUpdater(ctx context.Context) (gate func() string, done <-chan struct{}) {
	up := a.Updater()
	up.Init(ctx, 3*time.Second)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := up.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("updater stopped", "err", err)
		}
	}()
	return up.Gate, ch
}

// Heartbeat sends one heartbeat, as Run does every interval (benchmarks
// drive many agents' heartbeats from one process).
func (a *Agent) Heartbeat() { a.beat() }
