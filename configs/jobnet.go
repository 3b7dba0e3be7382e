package configs

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// JobnetsConfig is the job networks a node schedules (package jobnet): a
// list of jobnets, each a DAG of jobs with its starts (schedules, triggers).
// The leader of the cluster schedules them; every member loads the same
// list from the replicated configuration.
type JobnetsConfig []JobnetConfig

// JobnetConfig is one job network.
type JobnetConfig struct {
	// Name is unique among jobnets; runs, history and the CLI use it.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	// Calendar decides which days are business days for the schedules.
	Calendar  JobnetCalendar   `yaml:"calendar" json:"calendar"`
	Schedules []JobnetSchedule `yaml:"schedules" json:"schedules"`
	Triggers  []JobnetTrigger  `yaml:"triggers" json:"triggers"`
	Misfire   JobnetMisfire    `yaml:"misfire" json:"misfire"`
	// Concurrency is what a start does while a run of the jobnet is live:
	// forbid (the new start is skipped), allow (runs side by side),
	// replace (the live run is killed). It applies to every kind of start.
	Concurrency string `yaml:"concurrency" json:"concurrency"`
	// Params declares the parameters a run gets: name, pattern, default.
	// An operator start may give other values, each matching its pattern.
	// ${name} in args, env, dir (with an absolute command) and
	// precondition.file is replaced by the value; never in command.
	Params JobnetParams `yaml:"params" json:"params"`
	// StartDelay raises a fault when a run has not started this long after
	// its scheduled time (0: never).
	StartDelay time.Duration `yaml:"start_delay" json:"start_delay"`
	// EndDelay raises a fault when a run has not ended this long after it
	// started (0: never).
	EndDelay time.Duration `yaml:"end_delay" json:"end_delay"`
	// Severity and Runbook are the defaults of the jobs' incidents.
	Severity string      `yaml:"severity" json:"severity"`
	Runbook  string      `yaml:"runbook" json:"runbook"`
	Jobs     []JobConfig `yaml:"jobs" json:"jobs"`
}

// JobnetParams are a jobnet's declared parameters. The file gives either a
// list of declarations or, the older form, a mapping name: default (each
// then declared with DefaultParamPattern).
type JobnetParams []JobnetParam

// JobnetParam declares one parameter.
type JobnetParam struct {
	// Name is referred to as ${name}; 1 to 64 of A-Z, a-z, 0-9, '_', '.',
	// '-'. "trigger" is reserved (set by triggers).
	Name string `yaml:"name" json:"name"`
	// Pattern is a Go regular expression a value must match as a whole
	// (it is anchored); default DefaultParamPattern.
	Pattern string `yaml:"pattern" json:"pattern"`
	// Default is the value of a run that does not give one; it must match
	// Pattern.
	Default     string `yaml:"default" json:"default"`
	Description string `yaml:"description" json:"description"`
}

// Parameter limits and defaults.
const (
	// DefaultParamPattern is the pattern of a parameter declared without
	// one: letters, digits, '.', '_', '-', at most 256.
	DefaultParamPattern = `[A-Za-z0-9._-]{0,256}`
	// MaxParamValue bounds every parameter value, whatever its pattern.
	MaxParamValue = 4096
	// TriggerParam is the parameter a trigger sets (what fired the run).
	TriggerParam = "trigger"
)

var paramNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ParamRefRE matches a reference ${name} in a job's command, args, env,
// dir or precondition.file.
var ParamRefRE = regexp.MustCompile(`\$\{([A-Za-z0-9_.-]+)\}`)

// Regexp compiles the parameter's pattern, anchored at both ends.
func (p JobnetParam) Regexp() (*regexp.Regexp, error) {
	pat := p.Pattern
	if pat == "" {
		pat = DefaultParamPattern
	}
	if len(pat) > 1024 {
		return nil, errors.New("longer than 1024 characters")
	}
	if _, err := regexp.Compile(pat); err != nil {
		return nil, err // reported without the anchors
	}
	return regexp.Compile(`^(?:` + pat + `)$`)
}

// Lookup returns the declaration of name.
func (ps JobnetParams) Lookup(name string) (JobnetParam, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return JobnetParam{}, false
}

// Defaults returns name → default.
func (ps JobnetParams) Defaults() map[string]string {
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		out[p.Name] = p.Default
	}
	return out
}

// rewriteNode turns the older mapping form {name: default} into the list
// of declarations; the decoder calls it before decoding (so the lines of
// the keys and values stay).
func (ps *JobnetParams) rewriteNode(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := func(name string) *yaml.Node {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Line: k.Line, Column: k.Column}
		}
		nameNode := *k
		nameNode.Tag = "!!str" // a name written as a number is still a name
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column,
			Content: []*yaml.Node{key("name"), &nameNode, key("default"), val}})
	}
	return seq
}

// JobnetCalendar is an operating calendar.
type JobnetCalendar struct {
	// BusinessDays are the weekdays the site works (default mon–fri).
	BusinessDays []string `yaml:"business_days" json:"business_days"`
	// Holidays (YYYY-MM-DD) are not business days; a schedule falling on
	// one follows its non_business rule.
	Holidays []string `yaml:"holidays" json:"holidays"`
	// Closed days (YYYY-MM-DD): nothing scheduled runs, not even a run
	// shifted there.
	Closed []string `yaml:"closed" json:"closed"`
}

// JobnetSchedule is a cron start.
type JobnetSchedule struct {
	// Cron is a five-field expression (minute hour day month weekday) or a
	// descriptor such as @daily.
	Cron string `yaml:"cron" json:"cron"`
	// TimeZone the expression is read in (default UTC).
	TimeZone string `yaml:"time_zone" json:"time_zone"`
	// NonBusiness is what a firing on a day that is not a business day
	// does: run, skip, next (shift to the next business day, same time) or
	// previous. Default run.
	NonBusiness string `yaml:"non_business" json:"non_business"`
}

// JobnetTrigger starts a run on an outside event: exactly one of file and
// event.
type JobnetTrigger struct {
	File  JobnetFileTrigger  `yaml:"file" json:"file"`
	Event JobnetEventTrigger `yaml:"event" json:"event"`
}

// JobnetFileTrigger watches files matching a glob.
type JobnetFileTrigger struct {
	Path string `yaml:"path" json:"path"`
	// On lists created, deleted, changed (default created).
	On []string `yaml:"on" json:"on"`
	// Settle: a file fires only once its size and time have not changed
	// for this long (the writer is done). Default 2s.
	Settle time.Duration `yaml:"settle" json:"settle"`
	// Poll is how often the glob is checked (default 1s).
	Poll time.Duration `yaml:"poll" json:"poll"`
}

// JobnetEventTrigger starts a run when a message on a bus subject matches.
type JobnetEventTrigger struct {
	// Subject is a NATS subject, wildcards allowed (unyo.incident.>).
	Subject string `yaml:"subject" json:"subject"`
	// Match: every key (a top-level JSON field of the message, or
	// labels.NAME) must equal the value; empty matches every message.
	Match map[string]string `yaml:"match" json:"match"`
}

// JobnetMisfire is what happens to firings that fell due while no leader
// was scheduling (longer ago than Grace).
type JobnetMisfire struct {
	// Policy: skip (none of them), once (the latest one), catch_up (the
	// latest Max ones, oldest first). Default once.
	Policy string `yaml:"policy" json:"policy"`
	Max    int    `yaml:"max" json:"max"`
	// Grace: a firing at most this late is not a misfire (default 1m).
	Grace time.Duration `yaml:"grace" json:"grace"`
}

// JobConfig is one job of a jobnet.
type JobConfig struct {
	Name string `yaml:"name" json:"name"`
	// Kind: command (default), jobnet (nested, runs Jobnet), cleanup,
	// db-maintenance.
	Kind    string            `yaml:"kind" json:"kind"`
	Command string            `yaml:"command" json:"command"`
	Args    []string          `yaml:"args" json:"args"`
	Env     map[string]string `yaml:"env" json:"env"`
	Dir     string            `yaml:"dir" json:"dir"`
	// Jobnet names the jobnet a kind: jobnet job runs.
	Jobnet string `yaml:"jobnet" json:"jobnet"`
	// RunOn says where: at most one of node, agent, tag; none is the
	// leader itself.
	RunOn      JobRunOn          `yaml:"run_on" json:"run_on"`
	Timeout    time.Duration     `yaml:"timeout" json:"timeout"`
	Retry      JobRetry          `yaml:"retry" json:"retry"`
	EndCodes   JobEndCodes       `yaml:"end_codes" json:"end_codes"`
	Needs      []string          `yaml:"needs" json:"needs"`
	Precond    JobPrecond        `yaml:"precondition" json:"precondition"`
	Hold       bool              `yaml:"hold" json:"hold"`
	StartDelay time.Duration     `yaml:"start_delay" json:"start_delay"`
	EndDelay   time.Duration     `yaml:"end_delay" json:"end_delay"`
	Severity   string            `yaml:"severity" json:"severity"`
	Runbook    string            `yaml:"runbook" json:"runbook"`
	Cleanup    JobCleanup        `yaml:"cleanup" json:"cleanup"`
	DBMaint    JobDBMaint        `yaml:"db_maintenance" json:"db_maintenance"`
	Report     JobReport         `yaml:"report" json:"report"`
	Drill      JobDrill          `yaml:"drill" json:"drill"`
	Rotate     JobRotatePassword `yaml:"rotate_password" json:"rotate_password"`
	Backup     JobBackup         `yaml:"backup" json:"backup"`
}

// JobReport is the built-in report job: the monthly performance report,
// made on the node, stored and mailed.
type JobReport struct {
	// Month: previous (default; run it on the 1st) or current.
	Month string `yaml:"month" json:"month"`
	// MailRoles are the escalation roles whose contacts get it by mail
	// (default [site-manager]); [] after defaults only when mail is off.
	MailRoles []string `yaml:"mail_roles" json:"mail_roles"`
}

// JobRunOn picks where a job runs.
type JobRunOn struct {
	Node  string `yaml:"node" json:"node"`
	Agent string `yaml:"agent" json:"agent"`
	Tag   string `yaml:"tag" json:"tag"`
}

// JobRetry re-runs a job that ended with one of the On codes.
type JobRetry struct {
	Count    int           `yaml:"count" json:"count"`
	Interval time.Duration `yaml:"interval" json:"interval"`
	// On lists end codes and ranges ("1", "3-5", "100-"); default: every
	// code judged abnormal.
	On []string `yaml:"on" json:"on"`
}

// JobEndCodes judges an exit code: normal, warning, else abnormal.
type JobEndCodes struct {
	Normal  []string `yaml:"normal" json:"normal"`
	Warning []string `yaml:"warning" json:"warning"`
}

// JobPrecond is a file that must exist before the job starts.
type JobPrecond struct {
	File string `yaml:"file" json:"file"`
	// Else: skip (the job), wait (until it exists or Timeout), fail.
	Else    string        `yaml:"else" json:"else"`
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// JobCleanup is the built-in cleanup job.
type JobCleanup struct {
	Paths         []string `yaml:"paths" json:"paths"`
	OlderThanDays int      `yaml:"older_than_days" json:"older_than_days"`
}

// JobDBMaint is the built-in db-maintenance job on the PostgreSQL ledger.
type JobDBMaint struct {
	// Operations: vacuum, analyze, reindex (default vacuum and analyze).
	Operations []string `yaml:"operations" json:"operations"`
	// Tables (default: every ledger table).
	Tables []string `yaml:"tables" json:"tables"`
}

// Job kinds.
const (
	JobKindCommand       = "command"
	JobKindJobnet        = "jobnet"
	JobKindCleanup       = "cleanup"
	JobKindDBMaintenance = "db-maintenance"
	JobKindReport        = "report"
	JobKindBackup        = "backup"
	JobKindBackupVerify  = "backup-verify"
)

func (s *JobnetsConfig) defaults() {}

func (s *JobnetsConfig) resolve(c *Config, _ string) {
	if len(*s) == 0 {
		*s = nil // "jobnets: []" is the default, nil
	}
	// Empty lists and maps are nil, so the printed config loads back equal.
	defer emptyToNil(reflect.ValueOf(s).Elem())
	for i := range *s {
		n := &(*s)[i]
		if n.Concurrency == "" {
			n.Concurrency = "forbid"
		}
		if n.Misfire.Policy == "" {
			n.Misfire.Policy = "once"
		}
		np := fmt.Sprintf("jobnets[%d]", i)
		if n.Misfire.Grace == 0 && !c.isGiven(np+".misfire.grace") {
			n.Misfire.Grace = time.Minute
		}
		if n.Severity == "" {
			n.Severity = "major"
		}
		if len(n.Calendar.BusinessDays) == 0 {
			n.Calendar.BusinessDays = []string{"mon", "tue", "wed", "thu", "fri"}
		}
		for j := range n.Schedules {
			sc := &n.Schedules[j]
			if sc.TimeZone == "" {
				sc.TimeZone = "UTC"
			}
			if sc.NonBusiness == "" {
				sc.NonBusiness = "run"
			}
		}
		for j := range n.Triggers {
			ft := &n.Triggers[j].File
			if ft.Path != "" {
				if len(ft.On) == 0 {
					ft.On = []string{"created"}
				}
				tp := fmt.Sprintf("%s.triggers[%d].file", np, j)
				if ft.Settle == 0 && !c.isGiven(tp+".settle") {
					ft.Settle = 2 * time.Second
				}
				if ft.Poll == 0 && !c.isGiven(tp+".poll") {
					ft.Poll = time.Second
				}
			}
		}
		for j := range n.Jobs {
			jb := &n.Jobs[j]
			if jb.Kind == "" {
				jb.Kind = JobKindCommand
				if jb.Jobnet != "" {
					jb.Kind = JobKindJobnet
				}
			}
			if len(jb.EndCodes.Normal) == 0 {
				jb.EndCodes.Normal = []string{"0"}
			}
			if jb.Precond.File != "" && jb.Precond.Else == "" {
				jb.Precond.Else = "wait"
			}
			if jb.Severity == "" {
				jb.Severity = n.Severity
			}
			if jb.Runbook == "" && (jb.Kind == JobKindBackup || jb.Kind == JobKindBackupVerify) {
				jb.Runbook = "backup-failed"
			}
			if jb.Runbook == "" {
				jb.Runbook = n.Runbook
			}
			if jb.Kind == JobKindDBMaintenance && len(jb.DBMaint.Operations) == 0 {
				jb.DBMaint.Operations = []string{"vacuum", "analyze"}
			}
			jb.drillDefaults()
			if jb.Kind == JobKindReport {
				if jb.Report.Month == "" {
					jb.Report.Month = "previous"
				}
				if len(jb.Report.MailRoles) == 0 {
					jb.Report.MailRoles = []string{"site-manager"}
				}
			}
		}
	}
}

var (
	jobnetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	dateRE       = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// CronParser is the parser of jobnet schedules: five fields or a
// descriptor (@daily, @every 5m).
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (s *JobnetsConfig) validate(c *Config, v validator) {
	nets := map[string]int{}
	for i, n := range *s {
		nv := validator{path: fmt.Sprintf("%s[%d]", v.path, i), errs: v.errs}
		switch {
		case n.Name == "":
			nv.errf("name", "required")
		case !jobnetNameRE.MatchString(n.Name):
			nv.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_', '.'", quote(n.Name))
		default:
			if first, dup := nets[n.Name]; dup {
				nv.errf("name", "%s: already the name of jobnets[%d]", quote(n.Name), first)
			} else {
				nets[n.Name] = i
			}
		}
	}
	for i, n := range *s {
		nv := validator{path: fmt.Sprintf("%s[%d]", v.path, i), errs: v.errs}
		n.validate(c, nv, nets)
	}
	s.checkAgents(c, v)
	// Nested jobnets must not include themselves, directly or not.
	graph := map[string][]string{}
	var names []string
	for _, n := range *s {
		names = append(names, n.Name)
		for _, j := range n.Jobs {
			if j.Kind == JobKindJobnet && j.Jobnet != "" {
				graph[n.Name] = append(graph[n.Name], j.Jobnet)
			}
		}
	}
	if cyc := FindCycle(names, graph); cyc != nil {
		i := nets[cyc[0]]
		validator{path: fmt.Sprintf("%s[%d]", v.path, i), errs: v.errs}.
			errf("jobs", "nested jobnets form a cycle %s", strings.Join(cyc, " → "))
	}
}

func (n JobnetConfig) validate(c *Config, v validator, nets map[string]int) {
	switch n.Concurrency {
	case "forbid", "allow", "replace":
	default:
		v.errf("concurrency", "%s: want forbid, allow or replace", quote(n.Concurrency))
	}
	validSeverity(v, "severity", n.Severity)
	nonNegative(v, "start_delay", n.StartDelay)
	nonNegative(v, "end_delay", n.EndDelay)
	cv := v.sub("calendar")
	for j, d := range n.Calendar.BusinessDays {
		if _, ok := Weekdays[d]; !ok {
			cv.errf(fmt.Sprintf("business_days[%d]", j), "%s: want mon, tue, wed, thu, fri, sat or sun", quote(d))
		}
	}
	for _, l := range []struct {
		key  string
		days []string
	}{{"holidays", n.Calendar.Holidays}, {"closed", n.Calendar.Closed}} {
		for j, d := range l.days {
			if _, err := time.Parse(time.DateOnly, d); err != nil || !dateRE.MatchString(d) {
				cv.errf(fmt.Sprintf("%s[%d]", l.key, j), "%s: want a date YYYY-MM-DD", quote(d))
			}
		}
	}
	for j, sc := range n.Schedules {
		sv := v.sub(fmt.Sprintf("schedules[%d]", j))
		tzOK := true
		if _, err := time.LoadLocation(sc.TimeZone); err != nil {
			sv.errf("time_zone", "%s: unknown time zone", quote(sc.TimeZone))
			tzOK = false
		}
		switch {
		case sc.Cron == "":
			sv.errf("cron", "required")
		case strings.HasPrefix(sc.Cron, "TZ=") || strings.HasPrefix(sc.Cron, "CRON_TZ="):
			sv.errf("cron", "%s: write the time zone in time_zone", quote(sc.Cron))
		default:
			if _, err := CronParser.Parse(sc.Cron); err != nil {
				sv.errf("cron", "%s: %v", quote(sc.Cron), err)
			}
		}
		_ = tzOK
		switch sc.NonBusiness {
		case "run", "skip", "next", "previous":
		default:
			sv.errf("non_business", "%s: want run, skip, next or previous", quote(sc.NonBusiness))
		}
	}
	for j, t := range n.Triggers {
		tv := v.sub(fmt.Sprintf("triggers[%d]", j))
		hasFile, hasEvent := t.File.Path != "", t.Event.Subject != ""
		switch {
		case hasFile && hasEvent:
			tv.errf("event", "a trigger is either file or event, not both")
		case !hasFile && !hasEvent:
			tv.errf("file", "want file.path or event.subject")
		case hasFile:
			fv := tv.sub("file")
			if _, err := filepath.Match(t.File.Path, ""); err != nil {
				fv.errf("path", "%s: bad glob: %v", quote(t.File.Path), err)
			} else if !filepath.IsAbs(t.File.Path) {
				fv.errf("path", "%s: want an absolute path", quote(t.File.Path))
			}
			for k, on := range t.File.On {
				switch on {
				case "created", "deleted", "changed":
				default:
					fv.errf(fmt.Sprintf("on[%d]", k), "%s: want created, deleted or changed", quote(on))
				}
			}
			nonNegative(fv, "settle", t.File.Settle)
			positive(fv, "poll", t.File.Poll)
		case hasEvent:
			if strings.ContainsAny(t.Event.Subject, " \t") || strings.HasPrefix(t.Event.Subject, ".") ||
				strings.HasSuffix(t.Event.Subject, ".") || strings.Contains(t.Event.Subject, "..") {
				tv.sub("event").errf("subject", "%s: not a NATS subject", quote(t.Event.Subject))
			}
		}
	}
	mv := v.sub("misfire")
	switch n.Misfire.Policy {
	case "skip", "once":
	case "catch_up":
		if n.Misfire.Max < 1 {
			mv.errAt("max", mv.field("policy"), "%d: want at least 1 with policy catch_up", n.Misfire.Max)
		}
	default:
		mv.errf("policy", "%s: want skip, once or catch_up", quote(n.Misfire.Policy))
	}
	if n.Misfire.Max < 0 {
		mv.errf("max", "%d: want 0 or more", n.Misfire.Max)
	}
	positive(mv, "grace", n.Misfire.Grace)

	n.Params.validate(v.sub("params"))

	if len(n.Jobs) == 0 {
		v.errf("jobs", "want at least one job")
		return
	}
	jobs := map[string]int{}
	for j, jb := range n.Jobs {
		jv := v.sub(fmt.Sprintf("jobs[%d]", j))
		switch {
		case jb.Name == "":
			jv.errf("name", "required")
		case !jobnetNameRE.MatchString(jb.Name):
			jv.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_', '.'", quote(jb.Name))
		default:
			if first, dup := jobs[jb.Name]; dup {
				jv.errf("name", "%s: already the name of jobs[%d]", quote(jb.Name), first)
			} else {
				jobs[jb.Name] = j
			}
		}
	}
	graph := map[string][]string{}
	var order []string
	for j, jb := range n.Jobs {
		jv := v.sub(fmt.Sprintf("jobs[%d]", j))
		jb.validate(c, jv, nets)
		jb.validateRefs(jv, n.Params)
		order = append(order, jb.Name)
		for k, dep := range jb.Needs {
			switch {
			case dep == jb.Name:
				jv.errf(fmt.Sprintf("needs[%d]", k), "%s: a job cannot need itself", quote(dep))
			default:
				if _, ok := jobs[dep]; !ok {
					jv.errf(fmt.Sprintf("needs[%d]", k), "%s: no such job in jobnet %s", quote(dep), quote(n.Name))
					continue
				}
				graph[jb.Name] = append(graph[jb.Name], dep)
			}
		}
	}
	if cyc := FindCycle(order, graph); cyc != nil {
		v.errf("jobs", "cycle %s", strings.Join(cyc, " → "))
	}
}

func (jb JobConfig) validate(c *Config, v validator, nets map[string]int) {
	switch jb.Kind {
	case JobKindCommand:
		if jb.Command == "" {
			v.errf("command", "required for a command job")
		}
	case JobKindJobnet:
		if _, ok := nets[jb.Jobnet]; !ok {
			v.errAt("jobnet", v.field("kind"), "%s: no such jobnet", quote(jb.Jobnet))
		}
	case JobKindCleanup:
		if len(jb.Cleanup.Paths) == 0 {
			v.sub("cleanup").errAt("paths", v.field("kind"), "want at least one glob for a cleanup job")
		}
		for k, p := range jb.Cleanup.Paths {
			if _, err := filepath.Match(p, ""); err != nil || !filepath.IsAbs(p) {
				v.sub("cleanup").errf(fmt.Sprintf("paths[%d]", k), "%s: want an absolute glob", quote(p))
			}
		}
		if jb.Cleanup.OlderThanDays < 1 {
			v.sub("cleanup").errAt("older_than_days", v.field("kind"), "%d: want at least 1", jb.Cleanup.OlderThanDays)
		}
	case JobKindDBMaintenance:
		for k, op := range jb.DBMaint.Operations {
			switch op {
			case "vacuum", "analyze", "reindex":
			default:
				v.sub("db_maintenance").errf(fmt.Sprintf("operations[%d]", k), "%s: want vacuum, analyze or reindex", quote(op))
			}
		}
		for k, tb := range jb.DBMaint.Tables {
			if !sqlIdentRE.MatchString(tb) {
				v.sub("db_maintenance").errf(fmt.Sprintf("tables[%d]", k), "%s: not a table name", quote(tb))
			}
		}
	case JobKindReport:
		if m := jb.Report.Month; m != "previous" && m != "current" {
			v.sub("report").errf("month", "%s: want previous or current", quote(m))
		}
		if jb.RunOn.Agent != "" || jb.RunOn.Tag != "" {
			v.sub("run_on").errAt("agent", v.field("kind"), "a report job runs on a node (node or none), not on an agent")
		}
		for k, r := range jb.Report.MailRoles {
			if r == "" || len(r) > 64 {
				v.sub("report").errf(fmt.Sprintf("mail_roles[%d]", k), "%s: want a role name", quote(r))
			}
		}
	case JobKindBackup, JobKindBackupVerify:
		jb.validateBackup(c, v)
	case JobKindDrill:
		jb.validateDrill(v)
	case JobKindRotatePassword:
		jb.validateRotate(v)
	default:
		v.errf("kind", "%s: want command, jobnet, cleanup, db-maintenance, report, drill, rotate-password, backup or backup-verify", quote(jb.Kind))
	}
	if jb.Kind != JobKindCommand && jb.Command != "" {
		v.errf("command", "only a command job has a command (kind is %s)", quote(jb.Kind))
	}
	set := 0
	for _, s := range []string{jb.RunOn.Node, jb.RunOn.Agent, jb.RunOn.Tag} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		v.errf("run_on", "want at most one of node, agent and tag")
	}
	nonNegative(v, "timeout", jb.Timeout)
	nonNegative(v, "start_delay", jb.StartDelay)
	nonNegative(v, "end_delay", jb.EndDelay)
	rv := v.sub("retry")
	if jb.Retry.Count < 0 || jb.Retry.Count > 100 {
		rv.errf("count", "%d: want 0..100", jb.Retry.Count)
	}
	nonNegative(rv, "interval", jb.Retry.Interval)
	for k, r := range jb.Retry.On {
		if _, err := ParseCodeRange(r); err != nil {
			rv.errf(fmt.Sprintf("on[%d]", k), "%v", err)
		}
	}
	ev := v.sub("end_codes")
	var ranges []CodeRange
	for _, l := range []struct {
		key  string
		list []string
	}{{"normal", jb.EndCodes.Normal}, {"warning", jb.EndCodes.Warning}} {
		for k, r := range l.list {
			cr, err := ParseCodeRange(r)
			if err != nil {
				ev.errf(fmt.Sprintf("%s[%d]", l.key, k), "%v", err)
				continue
			}
			for _, o := range ranges {
				if cr.Overlaps(o) {
					ev.errf(fmt.Sprintf("%s[%d]", l.key, k), "%s overlaps %s", cr, o)
				}
			}
			ranges = append(ranges, cr)
		}
	}
	pv := v.sub("precondition")
	if jb.Precond.File != "" {
		switch jb.Precond.Else {
		case "skip", "wait", "fail":
		default:
			pv.errf("else", "%s: want skip, wait or fail", quote(jb.Precond.Else))
		}
		nonNegative(pv, "timeout", jb.Precond.Timeout)
	}
	validSeverity(v, "severity", jb.Severity)
}

var sqlIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func validSeverity(v validator, key, s string) {
	switch s {
	case "critical", "major", "minor", "warning", "info":
	default:
		v.errf(key, "%s: want critical, major, minor, warning or info", quote(s))
	}
}

func nonNegative(v validator, key string, d time.Duration) {
	if d < 0 {
		v.errf(key, "%s: want 0 or more", fmtDuration(d))
	}
}

// Weekdays maps the calendar's day names to time.Weekday.
var Weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// CodeRange is an inclusive range of exit codes; "3-" has no upper end.
type CodeRange struct{ Lo, Hi int }

// ParseCodeRange reads "N", "N-M", "N-" or "-M" (negative codes as
// "-1" are a single code).
func ParseCodeRange(s string) (CodeRange, error) {
	bad := fmt.Errorf("%s: want an end code N, a range N-M or N-", quote(s))
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return CodeRange{n, n}, nil
	}
	i := strings.LastIndex(s, "-")
	if i <= 0 {
		return CodeRange{}, bad
	}
	lo, err := strconv.Atoi(s[:i])
	if err != nil {
		return CodeRange{}, bad
	}
	if s[i+1:] == "" {
		return CodeRange{lo, int(^uint32(0) >> 1)}, nil
	}
	hi, err := strconv.Atoi(s[i+1:])
	if err != nil || hi < lo {
		return CodeRange{}, bad
	}
	return CodeRange{lo, hi}, nil
}

// Contains reports whether code is in r.
func (r CodeRange) Contains(code int) bool { return code >= r.Lo && code <= r.Hi }

// Overlaps reports whether r and o share a code.
func (r CodeRange) Overlaps(o CodeRange) bool { return r.Lo <= o.Hi && o.Lo <= r.Hi }

func (r CodeRange) String() string {
	switch {
	case r.Lo == r.Hi:
		return strconv.Itoa(r.Lo)
	case r.Hi == int(^uint32(0)>>1):
		return strconv.Itoa(r.Lo) + "-"
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

// FindCycle returns a cycle of the directed graph (edges from a node to
// what it needs) as the names along it, first name repeated at the end
// (a → b → c → a), or nil. Nodes are visited in the given order so the
// answer is deterministic.
func FindCycle(nodes []string, edges map[string][]string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch color[m] {
			case grey:
				i := slices.Index(stack, m)
				found = append(slices.Clone(stack[i:]), m)
				return true
			case white:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range nodes {
		if color[n] == white && visit(n) {
			// Report it in the direction of flow: a runs before b.
			slices.Reverse(found)
			return found
		}
	}
	return nil
}

// emptyToNil sets every empty slice and map under v (addressable) to nil.
func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := 0; i < v.Len(); i++ {
			emptyToNil(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				emptyToNil(v.Field(i))
			}
		}
	}
}

// checkAgents: with the embedded NATS server listening (it then lets in
// only nats.embedded.agents), a job's run_on.agent must be one of them and
// its run_on.tag a tag of one of them, or the job could never run. With
// agents.enabled, agents enrolled at run time (with their tags) connect
// too, and nothing is known of them here: the check is not made.
func (s *JobnetsConfig) checkAgents(c *Config, v validator) {
	if !c.NATS.EmbeddedListens() || c.Agents.Enabled {
		return
	}
	agents, tags := map[string]bool{}, map[string]bool{}
	for _, a := range c.NATS.Embedded.Agents {
		agents[a.Name] = true
		for _, t := range a.Tags {
			tags[t] = true
		}
	}
	for i, n := range *s {
		for j, jb := range n.Jobs {
			rv := validator{path: fmt.Sprintf("%s[%d].jobs[%d].run_on", v.path, i, j), errs: v.errs}
			switch {
			case jb.RunOn.Agent != "" && !agents[jb.RunOn.Agent]:
				rv.errf("agent", "%s: not in nats.embedded.agents, so no such agent can connect to this node's NATS", quote(jb.RunOn.Agent))
			case jb.RunOn.Tag != "" && !tags[jb.RunOn.Tag]:
				rv.errf("tag", "%s: no agent of nats.embedded.agents has this tag, so no agent may take its tasks", quote(jb.RunOn.Tag))
			}
		}
	}
}

func (ps JobnetParams) validate(v validator) {
	seen := map[string]int{}
	for i, p := range ps {
		pv := validator{path: fmt.Sprintf("%s[%d]", v.path, i), errs: v.errs}
		switch {
		case p.Name == "":
			pv.errf("name", "required")
		case !paramNameRE.MatchString(p.Name):
			pv.errf("name", "%s: want 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'", quote(p.Name))
		case p.Name == TriggerParam:
			pv.errf("name", "%s: reserved (a trigger sets it to what fired the run)", quote(p.Name))
		default:
			if first, dup := seen[p.Name]; dup {
				pv.errf("name", "%s: already declared by params[%d]", quote(p.Name), first)
			} else {
				seen[p.Name] = i
			}
		}
		re, err := p.Regexp()
		if err != nil {
			pv.errf("pattern", "%s: %v", quote(p.Pattern), err)
			continue
		}
		if len(p.Default) > MaxParamValue {
			pv.errf("default", "longer than %d bytes", MaxParamValue)
		} else if !re.MatchString(p.Default) {
			pattern := p.Pattern
			if pattern == "" {
				pattern = DefaultParamPattern + " (the default pattern)"
			}
			pv.errf("default", "%s does not match the pattern %s", quote(p.Default), pattern)
		}
	}
}

// validateRefs checks the ${name} references of a job: none in command
// (a parameter never becomes a command path), none in dir unless the
// command is absolute (a relative command is looked up in dir), and each
// a declared parameter (or trigger).
func (jb JobConfig) validateRefs(v validator, ps JobnetParams) {
	if m := ParamRefRE.FindString(jb.Command); m != "" {
		v.errf("command", "%s: may not refer to a parameter (%s): a parameter never becomes a command path; pass it in args or env", quote(jb.Command), m)
	}
	if m := ParamRefRE.FindString(jb.Dir); m != "" && !filepath.IsAbs(jb.Command) && jb.Command != "" && strings.Contains(jb.Command, "/") {
		v.errf("dir", "%s: may not refer to a parameter (%s) with a relative command %s: the command would be looked up in it", quote(jb.Dir), m, quote(jb.Command))
	}
	if shells[filepath.Base(jb.Command)] {
		for k, a := range jb.Args {
			if m := ParamRefRE.FindStringSubmatch(a); m != nil {
				v.errf(fmt.Sprintf("args[%d]", k), "%s: a parameter (%s) in the arguments of a shell (%s) would run as shell code: pass it in env (e.g. P: \"${%s}\") and write \"$P\" in the script", quote(a), m[0], jb.Command, m[1])
				break
			}
		}
	}
	check := func(key, s string) {
		for _, m := range ParamRefRE.FindAllStringSubmatch(s, -1) {
			if _, ok := ps.Lookup(m[1]); !ok && m[1] != TriggerParam {
				v.errf(key, "%s: no parameter %s in this jobnet's params", quote(s), quote(m[1]))
				return
			}
		}
	}
	check("dir", jb.Dir)
	for k, a := range jb.Args {
		check(fmt.Sprintf("args[%d]", k), a)
	}
	for _, k := range sortedKeys(jb.Env) {
		check("env."+k, jb.Env[k])
	}
	check("precondition.file", jb.Precond.File)
}

// shells are the commands whose arguments may be code: a parameter is
// refused in their args (it goes through env instead).
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "busybox": true, "csh": true, "tcsh": true, "fish": true}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
