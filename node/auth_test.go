package node_test

import (
	"net/http"
	"testing"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/client"
)

// adminToken is the first admin's token of the nodes these tests start.
var adminToken = auth.NewSecret(auth.TokenPrefix)

// adminClient is a client acting as the first admin.
func adminClient(t testing.TB, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getAs is http.Get with a bearer token.
func getAs(t testing.TB, token, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
