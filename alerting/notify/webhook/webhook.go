package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	neturl "net/url"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/alerting/notify"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Payload is Alertmanager's webhook payload, version 4.
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Webhook is the webhook notifier.
type Webhook struct {
	cfg Config
	hc  *http.Client
}

var _ notify.Notifier = (*Webhook)(nil)

// New returns a webhook notifier after validating cfg.
func New(cfg Config) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Webhook{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}, nil
}

// Build returns the payload for m.
func Build(m notify.Message, maxAlerts int) Payload {
	status := "firing"
	if m.Kind == notify.KindRecovery {
		status = "resolved"
	}
	p := Payload{Version: "4", GroupKey: m.Key, Status: status, Receiver: m.Receiver, ExternalURL: m.ExternalURL,
		GroupLabels: map[string]string{}, CommonLabels: map[string]string{}, CommonAnnotations: map[string]string{}}
	if p.Receiver == "" {
		p.Receiver = m.Role
	}
	if ts := m.Targets(); len(ts) == 1 {
		p.GroupLabels["instance"] = ts[0]
	}
	for i, it := range m.Items {
		if maxAlerts > 0 && i >= maxAlerts {
			p.TruncatedAlerts = len(m.Items) - maxAlerts
			break
		}
		inc := it.Incident
		labels := map[string]string{}
		maps.Copy(labels, inc.Labels)
		labels["alertname"] = inc.Check
		labels["instance"] = inc.Target
		labels["severity"] = string(inc.Severity)
		labels["dedup_key"] = inc.DedupKey
		labels["incident_id"] = strconv.FormatInt(inc.ID, 10)
		ann := map[string]string{"summary": inc.Message, "incident_url": it.URL, "kind": m.Kind}
		if it.RunbookURL != "" {
			ann["runbook_url"] = it.RunbookURL
		}
		if m.Level > 0 {
			ann["escalation_level"] = strconv.Itoa(m.Level)
		}
		if m.Role != "" {
			ann["role"] = m.Role
		}
		a := Alert{Status: status, Labels: labels, Annotations: ann, StartsAt: inc.OpenedAt.UTC(), GeneratorURL: it.URL,
			Fingerprint: fingerprint(inc.DedupKey, inc.ID)}
		if status == "resolved" && inc.ResolvedAt != nil {
			a.EndsAt = inc.ResolvedAt.UTC()
		}
		p.Alerts = append(p.Alerts, a)
	}
	if len(p.Alerts) > 0 {
		for k, v := range p.Alerts[0].Labels {
			common := true
			for _, a := range p.Alerts[1:] {
				if a.Labels[k] != v {
					common = false
					break
				}
			}
			if common {
				p.CommonLabels[k] = v
			}
		}
	}
	return p
}

func fingerprint(key string, id int64) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(id, 10)))
	return fmt.Sprintf("%016x", h.Sum64())
}

// Notify posts the payload to every URL in m.To (the configured URL when
// m.To is empty).
func (w *Webhook) Notify(ctx context.Context, m notify.Message) (bool, error) {
	urls := m.To
	if len(urls) == 0 && w.cfg.URL != "" {
		urls = []string{w.cfg.URL}
	}
	if len(urls) == 0 {
		return false, notify.ErrNoDestination
	}
	body, err := json.Marshal(Build(m, w.cfg.MaxAlerts))
	if err != nil {
		return false, fmt.Errorf("webhook: encode: %w", err)
	}
	var (
		errs  []error
		retry bool
	)
	for _, u := range urls {
		r, err := w.post(ctx, u, m.Key, body)
		if err != nil {
			errs = append(errs, err)
			retry = retry || r
		}
	}
	return retry, errors.Join(errs...)
}

func (w *Webhook) post(ctx context.Context, url, key string, body []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, redact.Err(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "unyo-webhook")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	shown := redact.URL(url)
	resp, err := w.hc.Do(req)
	if err != nil {
		// net/http's *url.Error quotes the URL, query and all.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			ue.URL = redact.URL(ue.URL)
		}
		return true, redact.Err(fmt.Errorf("webhook: post %s: %w", shown, err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	// The answer is quoted: a receiver may echo the URL, its path or a
	// token back.
	answer := redact.Strip(string(bytes.TrimSpace(msg)), redact.URLSecrets(url)...)
	return retry, redact.Err(fmt.Errorf("webhook: post %s: HTTP %d: %s", shown, resp.StatusCode, answer))
}
