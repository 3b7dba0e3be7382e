package agentstest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
)

// RunConcurrent checks the rules of agents.Store that concurrent writers
// (several nodes sharing one database) could break: a limited enrolment
// token is used at most its number of times, a host id belongs to one
// agent, however many enrol at once, and an agent's uninstall attempts
// are counted up to their limit, however many nodes count at once.
func RunConcurrent(t *testing.T, open func(t *testing.T) agents.Store) {
	const workers = 4
	// at runs fn workers times at once and returns how many succeeded;
	// an error other than want fails the test.
	at := func(t *testing.T, want error, fn func(i int) error) int {
		t.Helper()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			ok   int
			errs []error
		)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := fn(i)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if !errors.Is(err, want) {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			t.Errorf("concurrent call: %v, want nil or %v", err, want)
		}
		return ok
	}
	s := open(t) // one store for both: opening one is the slow part
	t.Run("OneUseToken", func(t *testing.T) {
		ctx := t.Context()
		for round := range 5 {
			tok, secret, err := agents.NewEnrollToken("web", "admin", time.Hour, 1, T0)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateEnrollToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			h := agents.HashSecret(secret)
			if n := at(t, agents.ErrToken, func(int) error {
				_, err := s.UseEnrollToken(ctx, h, T0.Add(time.Minute))
				return err
			}); n != 1 {
				t.Errorf("round %d: a one-use token was used %d times", round, n)
			}
		}
	})
	t.Run("UninstallAttemptsCounted", func(t *testing.T) {
		ctx := t.Context()
		errFull := errors.New("no room")
		for round := range 5 {
			agent := fmt.Sprintf("u%d", round)
			n := at(t, errFull, func(i int) error {
				_, ok, err := s.ClaimUninstallAttempt(ctx, agents.UninstallAttempt{ID: fmt.Sprintf("%s-%d", agent, i), Agent: agent,
					At: T0.Add(time.Duration(i) * time.Second)}, T0.Add(-time.Hour), 2)
				if err == nil && !ok {
					err = errFull
				}
				return err
			})
			if n != 2 {
				t.Errorf("round %d: %d of %d attempts counted at once, want the limit 2", round, n, workers)
			}
		}
	})
	t.Run("OneAgentPerHost", func(t *testing.T) {
		ctx := t.Context()
		for round := range 5 {
			host := fmt.Sprintf("host%d", round)
			n := at(t, agents.ErrHostTaken, func(i int) error {
				return s.PutAgent(ctx, agents.Agent{Name: fmt.Sprintf("a%d-%d", round, i), HostID: host,
					Kind: agents.KindResident, Enrolled: T0})
			})
			l, err := s.ListAgents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var same int
			for _, a := range l {
				if a.HostID == host {
					same++
				}
			}
			if n != 1 || same != 1 {
				t.Errorf("round %d: %d of %d enrolments of host %s succeeded, %d agents have it; want one", round, n, workers, host, same)
			}
		}
	})
}
