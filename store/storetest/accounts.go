package storetest

import (
	"context"
	"testing"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// MustAccount creates a tenant in db and links an account of the connector
// (which must be registered) at baseURL with tok to it, for tests that need
// the real account and token storage. It returns the linked account: its ID
// for the connectors, its TenantID for db.Account.
func MustAccount(tb testing.TB, db *store.DB, connector, baseURL string, tok *oauth2.Token) store.Account {
	tb.Helper()
	ctx := context.Background()
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: testenv.RandomName("tenant")})
	if err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	a, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{
		Connector: connector, Name: connector + " test account", ExternalID: "1", BaseURL: baseURL, Token: tok,
	})
	if err != nil {
		tb.Fatalf("link account: %v", err)
	}
	return a
}
