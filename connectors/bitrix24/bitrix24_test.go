package bitrix24_test

import (
	"testing"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// MustServe starts a fake portal serving b and returns a Client on it with
// a plain (non-retrying) authenticated HTTP client.
func MustServe(tb testing.TB, b *connectortest.Backend) (*bitrix24.Client, *bitrix24test.Server) {
	tb.Helper()
	srv := bitrix24test.NewServer(b)
	tb.Cleanup(srv.Close)
	c := bitrix24.New(connectors.Credentials{BaseURL: srv.BaseURL(), HTTPClient: srv.APIClient(),
		WebhookSecret: srv.ApplicationToken})
	return c, srv
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Options{Name: bitrix24.Name},
		func(t *testing.T, b *connectortest.Backend) connectors.Connector {
			c, srv := MustServe(t, b)
			t.Cleanup(func() {
				if n := srv.HeaderAuth(); n != 0 {
					t.Errorf("%d requests sent an Authorization header; Bitrix24 wants auth=", n)
				}
			})
			return c
		})
}
