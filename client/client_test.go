package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/client"
)

// TestNotAUnyoServer: a --server that is some other web server gets a
// short error that says so, not its HTML.
func TestNotAUnyoServer(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusNotFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html><body>" + strings.Repeat("welcome ", 500) + "</body></html>"))
		}))
		c, err := client.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Incidents(context.Background(), client.ListOptions{})
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "is --server a unyo node?") || strings.Contains(err.Error(), "<html>") {
			t.Errorf("HTTP %d HTML answer: %v", status, err)
		}
	}
}
