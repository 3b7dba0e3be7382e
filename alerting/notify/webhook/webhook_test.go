package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/webhook"
)

type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.headers = append(r.headers, req.Header.Clone())
	st := r.status
	r.mu.Unlock()
	if st != 0 {
		w.WriteHeader(st)
	}
}

func msg(kind string) notify.Message {
	t0 := time.Date(2026, 11, 22, 3, 10, 0, 0, time.UTC)
	res := t0.Add(time.Hour)
	mk := func(id int64, check string) notify.Item {
		return notify.Item{Incident: incident.Incident{ID: id, DedupKey: "web01/" + check, Target: "web01", Check: check,
			Severity: incident.Major, State: incident.Open, Message: "disk full", OpenedAt: t0, ResolvedAt: &res,
			Labels: map[string]string{"site": "tokyo-1"}},
			URL: notify.IncidentURL("https://unyo.example", id), RunbookURL: "https://unyo.example/runbooks/disk"}
	}
	return notify.Message{Key: "k1", Kind: kind, Role: "operator", Level: 1, Receiver: "default",
		ExternalURL: "https://unyo.example", Items: []notify.Item{mk(1, "disk:/a"), mk(2, "disk:/b")}}
}

func TestAlertmanagerPayload(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w, err := webhook.New(webhook.Config{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(notify.KindProblem)
	m.To = []string{srv.URL}
	if retry, err := w.Notify(t.Context(), m); err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	if len(rcv.bodies) != 1 {
		t.Fatalf("%d posts", len(rcv.bodies))
	}
	if rcv.headers[0].Get("Idempotency-Key") != "k1" || rcv.headers[0].Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", rcv.headers[0])
	}
	// Decoded the way an Alertmanager receiver reads it.
	var p struct {
		Version, Status, Receiver, GroupKey, ExternalURL string
		CommonLabels                                     map[string]string
		Alerts                                           []struct {
			Status                    string
			Labels, Annotations       map[string]string
			StartsAt, EndsAt          time.Time
			GeneratorURL, Fingerprint string
		}
	}
	if err := json.Unmarshal(rcv.bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "4" || p.Status != "firing" || p.Receiver != "default" || p.GroupKey != "k1" || len(p.Alerts) != 2 {
		t.Fatalf("payload %s", rcv.bodies[0])
	}
	a := p.Alerts[0]
	if a.Labels["alertname"] != "disk:/a" || a.Labels["instance"] != "web01" || a.Labels["severity"] != "major" ||
		a.Labels["site"] != "tokyo-1" || a.Annotations["summary"] != "disk full" ||
		a.Annotations["runbook_url"] != "https://unyo.example/runbooks/disk" || a.GeneratorURL != "https://unyo.example/incidents/1" ||
		len(a.Fingerprint) != 16 || !a.EndsAt.IsZero() || a.StartsAt.IsZero() {
		t.Errorf("alert %+v", a)
	}
	if p.CommonLabels["instance"] != "web01" || p.CommonLabels["alertname"] != "" {
		t.Errorf("common labels %v", p.CommonLabels)
	}

	rm := msg(notify.KindRecovery)
	rm.To = []string{srv.URL}
	if _, err := w.Notify(t.Context(), rm); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(rcv.bodies[1], &p)
	if p.Status != "resolved" || p.Alerts[0].Status != "resolved" || p.Alerts[0].EndsAt.IsZero() {
		t.Errorf("recovery payload %s", rcv.bodies[1])
	}
}

func TestRetryByStatus(t *testing.T) {
	for _, tt := range []struct {
		status int
		retry  bool
	}{{500, true}, {503, true}, {429, true}, {400, false}, {404, false}} {
		rcv := &receiver{status: tt.status}
		srv := httptest.NewServer(rcv)
		w, _ := webhook.New(webhook.Config{URL: srv.URL, Timeout: 5 * time.Second})
		retry, err := w.Notify(t.Context(), msg(notify.KindProblem))
		srv.Close()
		if err == nil || retry != tt.retry {
			t.Errorf("HTTP %d: retry %v, %v; want retry %v", tt.status, retry, err, tt.retry)
		}
	}
}

// TestErrorsHideToken: a failed post's error (logged, written in the
// incident's timeline, raised as a notifier incident) never carries the
// URL's token or password, though net/http and the receiver quote them.
func TestErrorsHideToken(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "bad gateway for %s path %s token %s", r.URL, r.URL.Path, r.URL.Query().Get("token"))
	}))
	defer echo.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	w, err := webhook.New(webhook.Config{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		echo.URL + "/hook?token=tok-Sentinel1&x=1",
		"http://u:pw-Sentinel2@" + dead + "/hook?api_key=key-Sentinel3",
		"http://" + dead + "/services/T0/B0/aB3dE5gH7jK9mN1pQ3sT5vW7",
		echo.URL + "/services/T0/B0/aB3dE5gH7jK9mN1pQ3sT5vW7",
	} {
		m := msg(notify.KindProblem)
		m.To = []string{u}
		_, err := w.Notify(context.Background(), m)
		if err == nil {
			t.Fatalf("%s: no error", u)
		}
		for _, s := range []string{"Sentinel", "aB3dE5gH7jK9mN1pQ3sT5vW7"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("error does not show where it posted: %v", err)
		}
	}
	if err := (&webhook.Config{URL: "ftp://h/?token=tok-Sentinel4", Timeout: time.Second}).Validate(); err == nil || strings.Contains(err.Error(), "Sentinel") {
		t.Errorf("Validate: %v", err)
	}
}
