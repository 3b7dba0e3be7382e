package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/rollout"
)

// DefaultReportEvery is how often an enrolled agent reports its version
// and update state to the cluster (Options.ReportEvery).
const DefaultReportEvery = 10 * time.Second

// Updater is the enrolled agent's side of rollouts (rollout.Updater): it
// reports on the agent's own subject, follows the cluster's signed
// directives (updating itself with the release key, keeping the rollback
// copy and its markers in the state directory) and gates the job runner
// on the release mode. A move order is followed once the new home
// answered (confirmNewHome); the new home is kept in the state directory
// (rollout.HomeFile) and Run returns rollout.ErrMoved.
func (a *Agent) Updater() *rollout.Updater {
	every := a.o.ReportEvery
	if every <= 0 {
		every = DefaultReportEvery
	}
	return &rollout.Updater{Name: a.st.Name, NC: a.nc, Trust: a.trust, Version: a.o.Version,
		Platform: runtime.GOOS + "/" + runtime.GOARCH, ReleaseKey: a.o.ReleaseKey, StateDir: a.o.Dir,
		Every: every, Logger: a.log, Move: a.confirmNewHome}
}

// confirmNewHome connects to the new home with the agent's own
// credentials and reports there; the new home must answer with a
// directive signed by one of the order's keys. Only then does the agent
// leave (the old home's connection and credentials stay in use until).
// The new home must know the agent's NKey (enrolled there too, or
// sharing the ledger's registry).
func (a *Agent) confirmNewHome(ctx context.Context, m rollout.MoveOrder) error {
	keys, err := jobnet.ParsePublicKeys([]byte(m.TrustKeys))
	if err != nil {
		return fmt.Errorf("the new home's keys: %w", err)
	}
	nc, err := nats.Connect(m.To, append(slices.Clone(a.natsOpts), nats.MaxReconnects(0))...)
	if err != nil {
		return fmt.Errorf("connect to the new home: %w", err)
	}
	defer nc.Close()
	b, _ := json.Marshal(rollout.Report{Agent: a.st.Name, Version: a.o.Version, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		State: rollout.ReportIdle})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, rollout.ReportSubject+"."+a.st.Name, b)
	if err != nil {
		return fmt.Errorf("the new home did not answer: %w", err)
	}
	if _, err := rollout.OpenDirective(jobnet.NewVerifier(keys...), a.st.Name, msg.Data, time.Now()); err != nil {
		return fmt.Errorf("the new home's answer: %w", err)
	}
	return nil
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
		err := up.Run(ctx)
		switch {
		case errors.Is(err, rollout.ErrMoved):
			select {
			case a.moved <- struct{}{}:
			default:
			}
		case err != nil && ctx.Err() == nil:
			a.log.Error("updater stopped", "err", err)
		}
	}()
	return up.Gate, ch
}

// Heartbeat sends one heartbeat, as Run does every interval (benchmarks
// drive many agents' heartbeats from one process).
func (a *Agent) Heartbeat() { a.beat() }
