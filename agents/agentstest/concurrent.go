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
// token is used at most its number of times, and a host id belongs to one
// agent, however many enrol at once.
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
