package configs

import (
	"fmt"

	"github.com/unyo-ops/unyo/runbooks"
)

// RunbooksConfig is the runbooks section: where site runbooks live. The
// built-in runbooks (package runbooks) are always there; a site runbook
// with a built-in's id replaces it. It is a shared section: every member
// reads the same directory path, which must hold the same files on each.
type RunbooksConfig struct {
	// Dir holds site runbooks (*.md with front matter); "" for none.
	// Relative to the config file's directory.
	Dir string `yaml:"dir" json:"dir"`
}

func (s *RunbooksConfig) defaults() {}

func (s *RunbooksConfig) resolve(_ *Config, dir string) { s.Dir = resolvePath(dir, s.Dir) }

// Load returns the runbooks the configuration names: the built-ins with
// Dir's on top (read again: a site file changed since the configuration
// was parsed is validated again).
func (s RunbooksConfig) Load() (*runbooks.Set, error) { return runbooks.Load(s.Dir) }

// validate loads the runbooks and checks every runbook: key of the
// configuration (thresholds, syslog filters, trap rules, jobnets and
// jobs) names one of them or is an http(s) link.
func (s *RunbooksConfig) validate(c *Config, v validator) {
	set, err := runbooks.Load(s.Dir)
	if err != nil {
		v.errf("dir", "%v", err)
		set = runbooks.Builtin()
	}
	check := func(path, ref string) {
		if err := set.Check(ref); err != nil {
			*v.errs = append(*v.errs, fieldErr{path: path, msg: err.Error()})
		}
	}
	for i, r := range c.Monitor.Thresholds {
		check(fmt.Sprintf("monitor.thresholds[%d].runbook", i), r.Runbook)
	}
	for i, t := range c.Monitor.Targets {
		for j, r := range t.Thresholds {
			check(fmt.Sprintf("monitor.targets[%d].thresholds[%d].runbook", i, j), r.Runbook)
		}
	}
	for i, r := range c.Monitor.Syslog.Filter.Filters {
		check(fmt.Sprintf("monitor.syslog.filters[%d].runbook", i), r.Runbook)
	}
	for i, r := range c.Monitor.Traps.Rules {
		check(fmt.Sprintf("monitor.traps.rules[%d].runbook", i), r.Runbook)
	}
	for i, n := range c.Jobnets {
		check(fmt.Sprintf("jobnets[%d].runbook", i), n.Runbook)
		for j, jb := range n.Jobs {
			if jb.Runbook != n.Runbook { // a job's default is its jobnet's
				check(fmt.Sprintf("jobnets[%d].jobs[%d].runbook", i, j), jb.Runbook)
			}
		}
	}
}
