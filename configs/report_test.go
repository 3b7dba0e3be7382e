package configs_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/configs"
)

// TestReportJob: the job kind report defaults to last month mailed to the
// site-manager role; each bad value's error names its field; the example
// configuration makes it at 06:00 on the 1st.
func TestReportJob(t *testing.T) {
	const head = "jobnets:\n  - name: r\n    jobs:\n      - name: j\n"
	c, err := configs.Parse("x.yaml", []byte(head+"        kind: report\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobnets[0].Jobs[0]; j.Report.Month != "previous" || !slices.Equal(j.Report.MailRoles, []string{"site-manager"}) {
		t.Errorf("defaults: %+v", j.Report)
	}
	c, err = configs.Parse("x.yaml", []byte(head+"        kind: report\n        report: {month: current, mail_roles: [ops-se, site-manager]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobnets[0].Jobs[0]; j.Report.Month != "current" || len(j.Report.MailRoles) != 2 {
		t.Errorf("given: %+v", j.Report)
	}
	for _, c := range []struct{ body, want string }{
		{"        kind: report\n        report: {month: next}\n", `jobs[0].report.month: "next": want previous or current`},
		{"        kind: report\n        report: {mail_roles: [\"\"]}\n", "report.mail_roles[0]"},
		{"        kind: report\n        run_on: {agent: a1}\n", "a report job runs on a node"},
	} {
		_, err := configs.Parse("x.yaml", []byte(head+c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}

	data, err := os.ReadFile("single-node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := configs.Parse("single-node.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ex.Jobnets, func(n configs.JobnetConfig) bool { return n.Name == "monthly-report" })
	if i < 0 {
		t.Fatal("the example has no monthly-report jobnet")
	}
	n := ex.Jobnets[i]
	if len(n.Schedules) != 1 || n.Schedules[0].Cron != "0 6 1 * *" || len(n.Jobs) != 1 || n.Jobs[0].Kind != configs.JobKindReport ||
		n.Jobs[0].Report.Month != "previous" || !slices.Equal(n.Jobs[0].Report.MailRoles, []string{"site-manager"}) {
		t.Errorf("example monthly-report: %+v", n)
	}
}
