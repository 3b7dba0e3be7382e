package test

import (
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/test/testutil"
)

// TestCLIHelpWithTheBinary: what issue 17 item 9 saw through the binary.
// Every group answers --help and -h, --version is known, a command's help
// lists only its flags, an unknown flag is said once, and the shells get a
// completion script.
func TestCLIHelpWithTheBinary(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"incident", "--help"}, {"target", "-h"}, {"cluster", "--help"}, {"jobnet", "--help"}, {"run", "--help"},
		{"incident", "ack", "-h"}, {"cluster", "status", "--help"},
	} {
		out, errOut, code := testutil.RunEnv(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:\n  unyo "+args[0]) || errOut != "" {
			t.Errorf("unyo %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
		if args[0] == "cluster" && len(args) == 3 && strings.Contains(out, "--to") {
			t.Errorf("cluster status --help lists --to, a flag of transfer-leadership:\n%s", out)
		}
	}
	out, _, code := testutil.RunEnv(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "unyo ") {
		t.Errorf("unyo --version: exit %d, %q", code, out)
	}
	out, errOut, code := testutil.RunEnv(t, nil, "incident", "list", "--nope")
	if code != 2 || out != "" || strings.Count(errOut, "--nope") != 1 {
		t.Errorf("an unknown flag: exit %d, stdout %q, stderr %q; want exit 2 and the error once", code, out, errOut)
	}
	for _, sh := range []string{"bash", "zsh"} {
		out, _, code := testutil.RunEnv(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "__complete") {
			t.Errorf("unyo completion %s: exit %d, %.100q", sh, code, out)
		}
	}
}
