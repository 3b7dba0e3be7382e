package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/report"
)

// MakeReport asks the node to make the monthly report of month (YYYY-MM)
// with the picked day (YYYY-MM-DD, "" for the busiest), calling progress
// for each stage the node reports. It waits as long as ctx allows (the
// node gives up after console.MakeReportTimeout).
func (c *Client) MakeReport(ctx context.Context, month, day string, progress func(stage string, done, total int)) (report.Entry, error) {
	resp, u, err := c.postStream(ctx, "/api/v1/reports/monthly", console.MakeReportRequest{Month: month, Day: day})
	if err != nil {
		return report.Entry{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var p console.ReportProgress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return report.Entry{}, fmt.Errorf("POST %s: decode: %w", u.Redacted(), err)
		}
		switch {
		case p.Error != "":
			return report.Entry{}, fmt.Errorf("the node could not make the report: %s", p.Error)
		case p.Report != nil:
			return *p.Report, nil
		case progress != nil:
			progress(p.Stage, p.Done, p.Total)
		}
	}
	if err := sc.Err(); err != nil {
		return report.Entry{}, fmt.Errorf("POST %s: %w", u.Redacted(), err)
	}
	return report.Entry{}, fmt.Errorf("POST %s: the answer ended before the report", u.Redacted())
}

// Reports lists the stored reports, newest first.
func (c *Client) Reports(ctx context.Context) ([]report.Entry, error) {
	var out struct {
		Reports []report.Entry `json:"reports"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/reports", nil, nil, &out)
	return out.Reports, err
}

// ReportFile copies one file of a stored report to w.
func (c *Client) ReportFile(ctx context.Context, id, name string, w io.Writer) error {
	p := "/api/v1/reports/" + url.PathEscape(id) + "/" + url.PathEscape(name)
	u := *c.base
	u.Path += p
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	hc := *c.hc
	hc.Timeout = 0
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.do(ctx, http.MethodGet, p, nil, nil, nil)
	}
	_, err = io.Copy(w, io.LimitReader(resp.Body, 1<<30))
	return err
}
