package amocrm_test

import (
	"testing"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// MustServe starts a fake amo account serving b and returns a Client on it
// with a plain (non-retrying) authenticated HTTP client.
func MustServe(tb testing.TB, b *connectortest.Backend) (*amocrm.Client, *amocrmtest.Server) {
	tb.Helper()
	srv := amocrmtest.NewServer(b)
	tb.Cleanup(srv.Close)
	return amocrm.New(connectors.Credentials{BaseURL: srv.URL, HTTPClient: srv.APIClient()}), srv
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Options{Name: amocrm.Name},
		func(t *testing.T, b *connectortest.Backend) connectors.Connector {
			c, _ := MustServe(t, b)
			return c
		})
}
