package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// maxListed is how many incidents of a group a message lists one by one.
const maxListed = 20

// Worst returns the most severe severity of the message's incidents.
func (m Message) Worst() incident.Severity {
	var w incident.Severity
	for _, it := range m.Items {
		if it.Incident.Severity.Rank() > w.Rank() {
			w = it.Incident.Severity
		}
	}
	return w
}

// Targets returns the distinct targets of the message's incidents, sorted.
func (m Message) Targets() []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range m.Items {
		if !seen[it.Incident.Target] {
			seen[it.Incident.Target] = true
			out = append(out, it.Incident.Target)
		}
	}
	sort.Strings(out)
	return out
}

func (m Message) loc() *time.Location {
	if m.Location != nil {
		return m.Location
	}
	return time.UTC
}

func (m Message) label() string {
	switch m.Kind {
	case KindRecovery:
		return "RESOLVED"
	case KindFlapping:
		return "FLAPPING"
	case KindReminder:
		return "STILL OPEN"
	}
	return strings.ToUpper(string(m.Worst()))
}

// Subject is a one-line summary: kind or severity, server, fault.
//
//	[CRITICAL] db01: ping - no reply
//	[CRITICAL] web01: 1000 faults (disk:/a, disk:/b, ...)
//	[RESOLVED] db01: ping
func (m Message) Subject() string {
	if len(m.Items) == 0 {
		return "[" + m.label() + "] (no incident)"
	}
	targets := strings.Join(m.Targets(), ", ")
	if len(m.Items) == 1 {
		inc := m.Items[0].Incident
		s := fmt.Sprintf("[%s] %s: %s", m.label(), inc.Target, inc.Check)
		if msg := firstLine(inc.Message, 60); msg != "" && m.Kind != KindRecovery {
			s += " - " + msg
		}
		return s
	}
	checks := make([]string, 0, 3)
	for i, it := range m.Items {
		if i == 3 {
			checks = append(checks, "...")
			break
		}
		checks = append(checks, it.Incident.Check)
	}
	return fmt.Sprintf("[%s] %s: %d faults (%s)", m.label(), firstLine(targets, 60), len(m.Items), strings.Join(checks, ", "))
}

// Text is the plain-text body, short lines first so it reads on a phone:
// server, time, fault type, content, the incident link and the runbook
// link, one block per incident.
func (m Message) Text() string {
	var b strings.Builder
	switch m.Kind {
	case KindRecovery:
		b.WriteString("Resolved.\n\n")
	case KindFlapping:
		b.WriteString("Flapping: the check changes state too often; notified once.\n\n")
	case KindReminder:
		b.WriteString("Still open after the maintenance window ended.\n\n")
	}
	if len(m.Items) > 1 {
		fmt.Fprintf(&b, "%d faults grouped in one message.\n\n", len(m.Items))
	}
	for i, it := range m.Items {
		if i == maxListed {
			fmt.Fprintf(&b, "... and %d more: %s\n\n", len(m.Items)-maxListed, strings.TrimRight(m.ExternalURL, "/")+"/incidents")
			break
		}
		inc := it.Incident
		fmt.Fprintf(&b, "Server:   %s\n", inc.Target)
		fmt.Fprintf(&b, "Time:     %s\n", inc.OpenedAt.In(m.loc()).Format("2006-01-02 15:04:05 MST"))
		fmt.Fprintf(&b, "Fault:    %s (%s)\n", inc.Check, inc.Severity)
		fmt.Fprintf(&b, "State:    %s", inc.State)
		if inc.Recovered {
			b.WriteString(", recovered")
		}
		if inc.Count > 1 {
			fmt.Fprintf(&b, ", %d occurrences", inc.Count)
		}
		b.WriteString("\n")
		if inc.Message != "" {
			fmt.Fprintf(&b, "Content:  %s\n", firstLine(inc.Message, 500))
		}
		if m.Kind == KindRecovery && inc.ResolvedAt != nil {
			fmt.Fprintf(&b, "Resolved: %s by %s\n", inc.ResolvedAt.In(m.loc()).Format("2006-01-02 15:04:05 MST"), inc.ResolvedBy)
		}
		fmt.Fprintf(&b, "Incident: %s\n", it.URL)
		if it.RunbookURL != "" {
			fmt.Fprintf(&b, "Runbook:  %s\n", it.RunbookURL)
		}
		b.WriteString("\n")
	}
	if m.Level > 0 {
		fmt.Fprintf(&b, "Escalation step %d", m.Level)
		if m.Role != "" {
			fmt.Fprintf(&b, " (%s)", m.Role)
		}
		b.WriteString(". Acknowledge to stop it.\n")
	}
	b.WriteString("-- unyo\n")
	return b.String()
}

// firstLine returns s on one line, cut to n runes.
func firstLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
