package test

import (
	"flag"
	"os"
	"testing"
)

// e2eParallel is how many tests of this package run at once unless
// -parallel is given. The end-to-end tests spend most of their time
// waiting (elections, check intervals, escalation steps, token expiry)
// rather than computing, so more of them than GOMAXPROCS (go test's
// default, 2 on CI) can overlap on a 2-core machine.
const e2eParallel = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", e2eParallel); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
