package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
)

func TestSendFilesAttaches(t *testing.T) {
	srv := mailtest.New(t)
	m := newMail(t, srv)
	files := map[string][]byte{"report.html": []byte("<html>r</html>"), "summary.json": []byte(`{"month":"2026-10"}`)}
	if err := m.SendFiles(t.Context(), []string{"boss@example.com"}, "Monthly report 2026-10", "attached", "report-2026-10",
		[]string{"report.html", "summary.json"}, files); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 10*time.Second)[0]
	for _, want := range []string{"Monthly report 2026-10", `filename="report.html"`, `filename="summary.json"`, "boss@example.com", "report-2026-10@unyo."} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, got.Data)
		}
	}
	if err := m.SendFiles(t.Context(), nil, "s", "t", "", nil, nil); err == nil {
		t.Error("no address: want an error")
	}
}
