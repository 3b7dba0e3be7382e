package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

// Maintenances lists maintenance windows.
func (c *Client) Maintenances(ctx context.Context) ([]console.MaintenanceView, error) {
	var out struct {
		Maintenance []console.MaintenanceView `json:"maintenance"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/maintenance", nil, nil, &out)
	return out.Maintenance, err
}

// AddMaintenance adds a maintenance window.
func (c *Client) AddMaintenance(ctx context.Context, r console.MaintenanceRequest) (console.MaintenanceView, error) {
	var out console.MaintenanceView
	err := c.do(ctx, http.MethodPost, "/api/v1/maintenance", nil, r, &out)
	return out, err
}

// EndMaintenance ends a maintenance window now.
func (c *Client) EndMaintenance(ctx context.Context, id int64) (console.MaintenanceView, error) {
	var out console.MaintenanceView
	err := c.do(ctx, http.MethodPost, "/api/v1/maintenance/"+strconv.FormatInt(id, 10)+"/end", nil,
		console.ActionRequest{}, &out)
	return out, err
}

// OnCall returns who each role reaches at at (zero: now).
func (c *Client) OnCall(ctx context.Context, at time.Time) ([]escalation.OnCall, error) {
	q := url.Values{}
	if !at.IsZero() {
		q.Set("at", at.Format(time.RFC3339))
	}
	var out struct {
		Roles []escalation.OnCall `json:"roles"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/oncall", q, nil, &out)
	return out.Roles, err
}

// Report returns an incident with its escalation and fault report.
func (c *Client) Report(ctx context.Context, id int64) (console.ReportView, error) {
	var out console.ReportView
	err := c.do(ctx, http.MethodGet, "/api/v1/incidents/"+strconv.FormatInt(id, 10)+"/report", nil, nil, &out)
	return out, err
}

// SetReport writes an incident's fault report.
func (c *Client) SetReport(ctx context.Context, id int64, r console.ReportRequest) (ledger.Report, error) {
	var out ledger.Report
	err := c.do(ctx, http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(id, 10)+"/report", nil, r, &out)
	return out, err
}

// Export writes the fault ledger as CSV (incidents opened in [from, to);
// YYYY-MM-DD or RFC 3339, empty for the defaults) to w.
func (c *Client) Export(ctx context.Context, from, to string, w io.Writer) error {
	u := *c.base
	u.Path += "/api/v1/ledger/export"
	q := url.Values{}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.do(ctx, http.MethodGet, "/api/v1/ledger/export", q, nil, nil) // decodes the error
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// AvailabilityQuery selects the period of Availability: Month (YYYY-MM,
// in the node's time zone), or From and To; all zero: the current month.
// Budget (zero: the node's) is the unplanned downtime allowed per month.
type AvailabilityQuery struct {
	Month    string
	From, To time.Time
	// FromDate and ToDate (YYYY-MM-DD), used when From / To are zero, are
	// midnight in the node's time zone, as Month is.
	FromDate, ToDate string
	Budget           time.Duration
}

// Availability returns downtime per target in the period against the
// budget.
func (c *Client) Availability(ctx context.Context, aq AvailabilityQuery) (availability.Report, error) {
	q := url.Values{}
	if aq.Month != "" {
		q.Set("month", aq.Month)
	}
	switch {
	case !aq.From.IsZero():
		q.Set("from", aq.From.Format(time.RFC3339Nano))
	case aq.FromDate != "":
		q.Set("from", aq.FromDate)
	}
	switch {
	case !aq.To.IsZero():
		q.Set("to", aq.To.Format(time.RFC3339Nano))
	case aq.ToDate != "":
		q.Set("to", aq.ToDate)
	}
	if aq.Budget != 0 {
		q.Set("budget", aq.Budget.String())
	}
	var out availability.Report
	err := c.do(ctx, http.MethodGet, "/api/v1/availability", q, nil, &out)
	return out, err
}
