package cli_test

import (
	"strings"
	"testing"
)

func TestIncidentListLimitChecked(t *testing.T) {
	for _, l := range []string{"-5", "0", "10001"} {
		_, errOut, code := runCLI(t, "incident", "list", "--server", "http://127.0.0.1:1", "--limit", l)
		if code != 2 || !strings.Contains(errOut, "--limit "+strings.TrimLeft(l, "+")) {
			t.Errorf("--limit %s: exit %d, %q; want a usage error naming it", l, code, errOut)
		}
	}
}
