// Command drill measures the platform failover drill: it runs the 3-node
// cluster scenario of test/drill_test.go (real `unyo serve` processes, a
// PostgreSQL ledger, embedded NATS routed into one cluster) with
// UNYO_DRILL_REPEAT=-n drills in a row, and prints each drill's RTO and
// RPO and the median RTO.
//
//	go run ./bench/drill -n 10
//
// Needs PostgreSQL on 127.0.0.1:5432 (or UNYO_TEST_POSTGRES_URL); loopback
// only; bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	n := flag.Int("n", 10, "drills in a row")
	timeout := flag.Duration("timeout", 20*time.Minute, "give up after")
	flag.Parse()
	if *n < 1 || *n > 100 {
		fmt.Fprintln(os.Stderr, "-n: want 1 to 100")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", timeout.String(), "-run", "^TestPlatformDrill$", "-v", "./test/")
	cmd.Env = append(os.Environ(), "UNYO_DRILL_REPEAT="+strconv.Itoa(*n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	found := false
	var tail []string // the last lines, shown when the run fails
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if tail = append(tail, line); len(tail) > 40 {
			tail = tail[1:]
		}
		if i := strings.Index(line, "platform drill"); i >= 0 && strings.Contains(line, "RTO") {
			fmt.Println(line[i:])
			found = true
		}
	}
	if err := cmd.Wait(); err != nil || !found {
		fmt.Fprintln(os.Stderr, strings.Join(tail, "\n"))
		fmt.Fprintf(os.Stderr, "drill bench: %v (measures found: %v)\n", err, found)
		return 1
	}
	return 0
}
