package escalation

import "time"

// OnCall is who a role reaches at a moment.
type OnCall struct {
	Role     string    `json:"role"`
	OnDuty   bool      `json:"on_duty"`
	Calendar string    `json:"calendar,omitempty"`
	Contacts []Contact `json:"contacts"`
	// NextOnDuty is when an off-duty role's calendar opens next.
	NextOnDuty *time.Time `json:"next_on_duty,omitempty"`
}

// OnCall answers, for every role, whether it is on duty at t and whom it
// reaches.
func (c *Config) OnCall(t time.Time) []OnCall {
	out := make([]OnCall, 0, len(c.Roles))
	for _, r := range c.Roles {
		oc := OnCall{Role: r.Name, OnDuty: true, Calendar: r.Calendar, Contacts: []Contact{}}
		if r.Calendar != "" {
			if cal, ok := c.calendar(r.Calendar); ok && !cal.Open(t) {
				oc.OnDuty = false
				if n := cal.NextOpen(t); !n.IsZero() {
					oc.NextOnDuty = &n
				}
			}
		}
		for _, name := range r.Contacts {
			if ct, ok := c.contact(name); ok {
				oc.Contacts = append(oc.Contacts, ct)
			}
		}
		out = append(out, oc)
	}
	return out
}
