package plan

import (
	"encoding/json"
	"fmt"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// The run history rules both stores apply (ledger.RunHistoryStore).

// Run list sizes: Runs returns DefaultRuns when the filter names no limit,
// and never more than MaxRuns.
const (
	DefaultRuns = 100
	MaxRuns     = 1000
)

// RunLimit is the number of runs a filter's limit n returns.
func RunLimit(n int) int {
	if n <= 0 {
		n = DefaultRuns
	}
	return min(n, MaxRuns)
}

// RunParams is how a run's parameters are stored: a JSON object, {} for
// none.
func RunParams(p map[string]string) ([]byte, error) {
	if p == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("run params: %w", err)
	}
	return b, nil
}

// NoRun is the error of a run id the store does not hold.
func NoRun(id string) error { return fmt.Errorf("run %q: %w", id, incident.ErrNotFound) }
