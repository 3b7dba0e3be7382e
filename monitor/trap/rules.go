package trap

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor/filter"
)

// builtinRules map the standard traps. They run after the user's rules, so
// a user rule on the same OID wins.
var builtinRules = []Rule{
	{Name: "coldStart", OID: "SNMPv2-MIB::coldStart", Severity: "warning", Check: "restart",
		DedupKey: "{{.Target}}/restart", Message: "{{.Target}}: cold start (the agent restarted, its configuration may have changed)"},
	{Name: "warmStart", OID: "SNMPv2-MIB::warmStart", Severity: "warning", Check: "restart",
		DedupKey: "{{.Target}}/restart", Message: "{{.Target}}: warm start (the agent reinitialized)"},
	{Name: "linkDown", OID: "IF-MIB::linkDown", Severity: "major", Check: "link",
		DedupKey: "{{.Target}}/ifIndex/{{.Index}}",
		Message:  "{{.Target}}: link down on ifIndex {{.Index}}{{with .Var.ifDescr}} ({{.}}){{end}}{{with .Var.ifName}} ({{.}}){{end}}"},
	{Name: "linkUp", OID: "IF-MIB::linkUp", Severity: "major", Status: "ok", Check: "link",
		DedupKey: "{{.Target}}/ifIndex/{{.Index}}",
		Message:  "{{.Target}}: link up on ifIndex {{.Index}}{{with .Var.ifDescr}} ({{.}}){{end}}{{with .Var.ifName}} ({{.}}){{end}}"},
	{Name: "authenticationFailure", OID: "SNMPv2-MIB::authenticationFailure", Severity: "minor",
		DedupKey: "{{.Target}}/authenticationFailure", Message: "{{.Target}}: SNMP authentication failure (a manager used a wrong community or credentials)"},
	{Name: "egpNeighborLoss", OID: "RFC1213-MIB::egpNeighborLoss", Severity: "minor",
		DedupKey: "{{.Target}}/egpNeighborLoss", Message: "{{.Target}}: EGP neighbor lost"},
}

// unmatchedRule renders traps no rule matched, as info events.
var unmatchedRule = Rule{Name: "unmatched", Severity: "info", Check: "trap",
	DedupKey: "{{.Target}}/trap/{{.OID}}",
	Labels:   map[string]string{"unmatched": "true"}}

const defaultMessage = "{{.Target}}: trap {{if .Name}}{{.Name}}{{else}}{{.OID}}{{end}} ({{.Version}}){{range .Vars}} {{if .Name}}{{.Name}}{{else}}{{.OID}}{{end}}={{.Value}}{{end}}"

type rule struct {
	name     string
	oid      string // "" any
	subtree  bool
	vars     []varMatch
	ignore   bool
	severity incident.Severity
	status   incident.Status
	check    string
	dedup    *template.Template
	message  *template.Template
	runbook  string
	labels   map[string]string
}

type varMatch struct {
	oid    string
	equals *string
	re     *regexp.Regexp
}

func compileRule(c *Rule) (*rule, error) {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	r := &rule{name: c.Name, runbook: c.Runbook, labels: c.Labels, check: c.Check}
	if r.check == "" {
		r.check = c.Name
	}
	if c.OID != "" {
		o := c.OID
		if strings.HasSuffix(o, ".*") {
			o, r.subtree = strings.TrimSuffix(o, ".*"), true
		}
		oid, err := ResolveOID(o)
		if err != nil {
			add("oid", "%v", err)
		}
		r.oid = oid
	}
	for i, v := range c.Varbinds {
		p := fmt.Sprintf("varbinds[%d]", i)
		oid, err := ResolveOID(v.OID)
		if err != nil {
			add(p+".oid", "%v", err)
		}
		m := varMatch{oid: oid}
		if v.Equals != "" && v.Regex != "" {
			add(p+".regex", "set equals or regex, not both")
		}
		if v.Equals != "" {
			eq := v.Equals
			m.equals = &eq
		}
		if v.Regex != "" {
			if m.re, err = regexp.Compile(v.Regex); err != nil {
				add(p+".regex", "%v", err)
			}
		}
		r.vars = append(r.vars, m)
	}
	switch c.Action {
	case "", "incident":
	case "ignore":
		r.ignore = true
	default:
		add("action", "%q: want incident or ignore", c.Action)
	}
	switch {
	case c.Severity == "" && !r.ignore:
		add("severity", "required for action incident")
	case c.Severity != "":
		s, err := incident.ParseSeverity(c.Severity)
		if err != nil {
			add("severity", "%v", err)
		}
		r.severity = s
	}
	switch c.Status {
	case "", "problem":
		r.status = incident.Problem
	case "ok":
		r.status = incident.OK
	default:
		add("status", "%q: want problem or ok", c.Status)
	}
	dedup := c.DedupKey
	if dedup == "" {
		dedup = "{{.Target}}/" + c.Name
	}
	msg := c.Message
	if msg == "" {
		msg = defaultMessage
	}
	var err error
	if r.dedup, err = template.New("dedup_key").Option("missingkey=zero").Parse(dedup); err != nil {
		add("dedup_key", "%v", err)
	}
	if r.message, err = template.New("message").Option("missingkey=zero").Parse(msg); err != nil {
		add("message", "%v", err)
	}
	for k, v := range c.Labels {
		if k == "" || len(k) > incident.MaxFieldLen || len(v) > incident.MaxFieldLen {
			add("labels."+k, "label names and values must be 1 to 256 bytes")
		}
	}
	if len(c.Labels) > incident.MaxLabels-8 {
		add("labels", "more than %d labels", incident.MaxLabels-8)
	}
	return r, errors.Join(errs...)
}

func (r *rule) matches(t *Trap) bool {
	if r.oid != "" && t.OID != r.oid && !(r.subtree && strings.HasPrefix(t.OID, r.oid+".")) {
		return false
	}
	for _, m := range r.vars {
		if !m.matches(t) {
			return false
		}
	}
	return true
}

func (m *varMatch) matches(t *Trap) bool {
	for _, v := range t.Vars {
		if v.OID != m.oid && !strings.HasPrefix(v.OID, m.oid+".") {
			continue
		}
		switch {
		case m.equals != nil && v.Value == *m.equals,
			m.re != nil && m.re.MatchString(v.Value),
			m.equals == nil && m.re == nil:
			return true
		}
	}
	return false
}

// Data is what the templates see.
type Data struct {
	Target    string
	Agent     string // source IP
	OID       string // trap OID
	Name      string // trap name when known
	Version   string
	Community string
	User      string
	Uptime    uint32
	Index     string            // interface index: the ifIndex varbind, or the instance of an IF-MIB column
	Var       map[string]string // varbind values by numeric OID, by "MIB::name.instance" and by column name ("ifDescr")
	Vars      []Var
	Rule      string
}

func newData(t *Trap, target, rule string) *Data {
	d := &Data{Target: target, Agent: t.Agent.String(), OID: t.OID, Name: t.Name, Version: t.Version,
		Community: t.Community, User: t.User, Uptime: t.Uptime, Vars: t.Vars, Rule: rule,
		Var: make(map[string]string, 3*len(t.Vars))}
	for _, v := range t.Vars {
		d.Var[v.OID] = v.Value
		if v.Name == "" {
			continue
		}
		d.Var[v.Name] = v.Value
		col, inst, _ := strings.Cut(v.Name, ".")
		_, short, _ := strings.Cut(col, "::")
		if _, seen := d.Var[short]; !seen {
			d.Var[short] = v.Value
		}
		if strings.HasPrefix(col, "IF-MIB::if") && d.Index == "" && inst != "" {
			d.Index = inst
		}
	}
	if v, ok := d.Var["ifIndex"]; ok && v != "" {
		d.Index = v
	}
	if d.Index == "" {
		d.Index = "unknown"
	}
	return d
}

// event builds the event for trap t matched by r.
func (r *rule) event(t *Trap, target string, now time.Time) incident.Event {
	data := newData(t, target, r.name)
	ev := incident.Event{
		ID:       uuid.NewString(),
		Source:   Source,
		Target:   filter.Clip(target, incident.MaxFieldLen),
		Check:    filter.Clip(r.check, incident.MaxFieldLen),
		Severity: r.severity,
		Status:   r.status,
		Time:     now.UTC(),
		Runbook:  r.runbook,
		Labels:   map[string]string{"version": t.Version, "trap_oid": filter.Clip(t.OID, incident.MaxFieldLen), "rule": r.name},
	}
	if t.Name != "" {
		ev.Labels["trap"] = t.Name
	}
	if t.User != "" {
		ev.Labels["user"] = filter.Clip(t.User, incident.MaxFieldLen)
	}
	for k, v := range r.labels {
		ev.Labels[k] = v
	}
	ev.DedupKey = filter.Clip(render(r.dedup, data, target+"/"+r.name), incident.MaxFieldLen)
	ev.Message = filter.Clip(render(r.message, data, target+": trap "+t.OID), incident.MaxMessageLen)
	return ev
}

func render(t *template.Template, data *Data, fallback string) string {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil || b.Len() == 0 {
		return fallback
	}
	return b.String()
}

// ruleSet is the compiled user rules, the built-ins and the unmatched rule.
type ruleSet struct {
	rules     []*rule
	unmatched *rule // nil: ignore unmatched traps
}

func newRuleSet(cfg *Config) (*ruleSet, error) {
	rs := &ruleSet{}
	all := append([]Rule(nil), cfg.Rules...)
	if !cfg.DisableBuiltinRules {
		all = append(all, builtinRules...)
	}
	for i := range all {
		r, err := compileRule(&all[i])
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		rs.rules = append(rs.rules, r)
	}
	if cfg.Unmatched != "ignore" {
		u, err := compileRule(&unmatchedRule)
		if err != nil {
			return nil, err
		}
		rs.unmatched = u
	}
	return rs, nil
}

// match returns the deciding rule, or nil when the trap is ignored.
func (rs *ruleSet) match(t *Trap) (r *rule, matched bool) {
	for _, r := range rs.rules {
		if r.matches(t) {
			if r.ignore {
				return nil, true
			}
			return r, true
		}
	}
	return rs.unmatched, false
}
