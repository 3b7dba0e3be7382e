package jobnet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMain lets the test binary be the job shim, as the unyo binary is
// (cmd/unyo), for the tests that set Shim to testShim (not the others: a
// race-enabled test binary starts slowly on a loaded machine); it is
// also, for TestJobDiesWithNode, a stand-in node running one job, and for
// TestStreamLeaderLoss a NATS server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimCommand {
		os.Exit(RunShim(os.Args[2:]))
	}
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	testShim = exe
	if os.Getenv("JOBNET_TEST_NATS") != "" {
		natsRole()
	}
	if dir := os.Getenv("JOBNET_TEST_NODE"); dir != "" {
		Shim = testShim
		(&Local{Name: "n1"}).Execute(context.Background(), Task{Run: "r", Job: "j", Attempt: 1,
			Command: "/bin/sh", Args: []string{"-c", "sleep 300 & echo $! > " + filepath.Join(dir, "child") +
				"; echo $$ > " + filepath.Join(dir, "job") + "; wait"}})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testShim is the test binary as a job shim.
var testShim string

// useShim runs the test's local jobs under the shim.
func useShim(t *testing.T) {
	Shim = testShim
	t.Cleanup(func() { Shim = "" })
}

// gone reports whether pid has exited (a zombie waiting for init counts).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func readPID(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// TestJobDiesWithNode: a node killed with SIGKILL takes its local job
// with it, and the processes the job started in its group: nothing runs
// on that a next leader would call lost (and an operator run again).
func TestJobDiesWithNode(t *testing.T) {
	dir := t.TempDir()
	node := exec.Command(os.Args[0], "-test.run=^$")
	node.Env = append(os.Environ(), "JOBNET_TEST_NODE="+dir)
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	var job, child int
	waitFor(t, "the job and its child to start", func() bool {
		job, child = readPID(t, filepath.Join(dir, "job")), readPID(t, filepath.Join(dir, "child"))
		return job > 0 && child > 0
	})
	if gone(job) || gone(child) {
		t.Fatalf("job %d or child %d not running before the kill", job, child)
	}
	if err := node.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	waitFor(t, "the job and its child to die with the node", func() bool { return gone(job) && gone(child) })
}

// TestShimReportsStartFailure: a command that does not start is a start
// error (code -1), not an exit code of the shim.
func TestShimReportsStartFailure(t *testing.T) {
	useShim(t)
	res := (&Local{Name: "n1"}).Execute(t.Context(), Task{Run: "r", Job: "j", Attempt: 1, Command: "/nonexistent/cmd"})
	if res.Code != -1 || !strings.HasPrefix(res.Err, "start: ") || !strings.Contains(res.Err, "no such file") {
		t.Fatalf("result %+v, want code -1 and a start error", res)
	}
	// And a command killed by a signal reports 128+N, as without a shim.
	res = (&Local{Name: "n1"}).Execute(t.Context(), Task{Run: "r", Job: "j", Attempt: 1, Command: "/bin/sh", Args: []string{"-c", "kill -9 $$"}})
	if res.Code != 137 {
		t.Fatalf("result %+v, want code 137", res)
	}
}
