package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/bus"
)

// ErrUninstallRefused: the node refused the uninstall (a wrong secret, too
// many wrong ones, or it could not decide); the agent's files are kept.
var ErrUninstallRefused = errors.New("agent: uninstall refused")

// Uninstall asks the node whether the agent may uninstall itself with
// secret (its group's uninstall secret) and, once allowed, removes its
// enrolment from the state directory: its keys, trusted keys, state and
// log positions. Without the node's answer nothing is removed. It does
// not stop the service or remove the program: the package does that.
func (a *Agent) Uninstall(ctx context.Context, secret string) error {
	b, _ := json.Marshal(agents.UninstallRequest{Secret: secret})
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := a.nc.RequestWithContext(rctx, bus.AgentUninstallSubject+"."+a.st.Name, b)
	if err != nil {
		return fmt.Errorf("%w: no answer from the node: %w", ErrUninstallRefused, err)
	}
	var ack agents.Ack
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return fmt.Errorf("%w: the node's answer: %w", ErrUninstallRefused, err)
	}
	if !ack.OK {
		return fmt.Errorf("%w: %s", ErrUninstallRefused, ack.Error)
	}
	a.log.Info("uninstall allowed by the node; removing the enrolment", "dir", a.o.Dir)
	return removeEnrolment(a.o.Dir)
}

// removeEnrolment removes the agent's files from dir, its state first (so
// that what a failure leaves is no longer an enrolment).
func removeEnrolment(dir string) error {
	var errs []error
	for _, f := range []string{stateFile, seedFile, keyFile, trustFile, "logpos.json"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
