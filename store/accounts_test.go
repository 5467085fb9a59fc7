package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/all"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// MustTenant creates a tenant for a test.
func MustTenant(tb testing.TB, db *store.DB, name string) telephony.Tenant {
	tb.Helper()
	t, _, err := db.CreateTenant(context.Background(), telephony.NewTenant{Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestDB_Accounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := MustTenant(t, db, "A"), MustTenant(t, db, "B")
		tok := &oauth2.Token{AccessToken: "access-secret-1", RefreshToken: "refresh-secret-1", Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}

		acc, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "amocrm", Name: "Acme amo", ExternalID: "42", BaseURL: "https://acme.amocrm.ru", Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		if acc.Status != connectors.StatusConnected || acc.TenantID != a.ID {
			t.Fatalf("account = %+v", acc)
		}

		t.Run("TokenSealedAtRest", func(t *testing.T) {
			var raw []byte
			if err := db.SQL().GetContext(ctx, &raw, db.SQL().Rebind(`SELECT token_enc FROM crm_accounts WHERE id = ?`), acc.ID); err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 || bytes.Contains(raw, []byte("secret-1")) {
				t.Fatalf("token stored in the clear or not at all: %q", raw)
			}
			got, err := db.LoadToken(ctx, acc.ID)
			if err != nil || got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken || !got.Expiry.Equal(tok.Expiry) {
				t.Fatalf("LoadToken = %+v, %v", got, err)
			}
		})
		t.Run("SaveToken", func(t *testing.T) {
			next := &oauth2.Token{AccessToken: "access-2", RefreshToken: "refresh-2"}
			if err := db.SaveToken(ctx, acc.ID, next); err != nil {
				t.Fatal(err)
			}
			got, _ := db.LoadToken(ctx, acc.ID)
			if got.RefreshToken != "refresh-2" {
				t.Fatalf("LoadToken after SaveToken = %+v", got)
			}
			if err := db.SaveToken(ctx, 999999, next); !errors.Is(err, connectors.ErrNotFound) {
				t.Fatalf("SaveToken of a missing account = %v", err)
			}
		})
		t.Run("NeedsRelinkThenRelink", func(t *testing.T) {
			if err := db.MarkNeedsRelink(ctx, acc.ID, "refresh token revoked"); err != nil {
				t.Fatal(err)
			}
			got, _ := db.Account(ctx, a.ID, acc.ID)
			if got.Status != connectors.StatusNeedsRelink || got.StatusReason != "refresh token revoked" {
				t.Fatalf("after MarkNeedsRelink: %+v", got)
			}
			again, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "amocrm", ExternalID: "42", BaseURL: "https://acme.amocrm.ru", Token: tok})
			if err != nil || again.ID != acc.ID || again.Status != connectors.StatusConnected {
				t.Fatalf("relink = %+v, %v; want the same account, connected", again, err)
			}
		})
		t.Run("WebhookSecret", func(t *testing.T) {
			const secret = "app-token-secret-3"
			b24, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "bitrix24", ExternalID: "member-1",
				BaseURL: "https://acme.bitrix24.ru/rest/", Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := db.FindAccount(ctx, b24.ID); err != nil || got.WebhookSecret != "" {
				t.Fatalf("FindAccount before any secret = %+v, %v", got, err)
			}
			if ok, err := db.ClaimWebhookSecret(ctx, b24.ID, secret); !ok || err != nil {
				t.Fatalf("first ClaimWebhookSecret = %v, %v; want stored", ok, err)
			}
			// Trust on first use: a later claim does not replace it.
			if ok, err := db.ClaimWebhookSecret(ctx, b24.ID, "another"); ok || err != nil {
				t.Fatalf("second ClaimWebhookSecret = %v, %v; want kept", ok, err)
			}
			if got, err := db.FindAccount(ctx, b24.ID); err != nil || got.WebhookSecret != secret {
				t.Fatalf("FindAccount = %v; want the first secret", err)
			}
			var raw []byte
			if err := db.SQL().GetContext(ctx, &raw, db.SQL().Rebind(`SELECT webhook_secret_enc FROM crm_accounts WHERE id = ?`), b24.ID); err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 || bytes.Contains(raw, []byte("secret-3")) {
				t.Fatalf("webhook secret stored in the clear or not at all: %q", raw)
			}
			// Never in what the API shows.
			shown, err := db.Account(ctx, a.ID, b24.ID)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(shown)
			if bytes.Contains(js, []byte("secret-3")) || bytes.Contains([]byte(fmt.Sprintf("%+v", shown)), []byte("secret-3")) {
				t.Fatalf("the account shows its webhook secret: %s", js)
			}
			// A relink keeps it unless the link brings a new one.
			if _, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "bitrix24", ExternalID: "member-1", Token: tok}); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.FindAccount(ctx, b24.ID); got.WebhookSecret != secret {
				t.Fatal("a relink without a secret dropped the stored one")
			}
			if _, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "bitrix24", ExternalID: "member-1", Token: tok,
				WebhookSecret: "reinstalled"}); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.FindAccount(ctx, b24.ID); got.WebhookSecret != "reinstalled" {
				t.Fatal("a relink with a new secret kept the old one")
			}
			// The sealed value is bound to its row.
			if _, err := db.SQL().ExecContext(ctx, db.SQL().Rebind(`UPDATE crm_accounts SET webhook_secret_enc = ? WHERE id = ?`), raw, acc.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.FindAccount(ctx, acc.ID); err == nil {
				t.Fatal("a webhook secret copied from another account opened")
			}
			if _, err := db.SQL().ExecContext(ctx, db.SQL().Rebind(`UPDATE crm_accounts SET webhook_secret_enc = NULL WHERE id = ?`), acc.ID); err != nil {
				t.Fatal(err)
			}
			var e *telephony.Error
			if _, err := db.ClaimWebhookSecret(ctx, b24.ID, ""); !errors.As(err, &e) || e.Field != "webhook_secret" {
				t.Fatalf("empty secret: %v", err)
			}
			if _, err := db.ClaimWebhookSecret(ctx, 999999, secret); !telephony.IsNotFound(err) {
				t.Fatalf("unknown account: %v", err)
			}
		})
		t.Run("TenantIsolation", func(t *testing.T) {
			if _, err := db.Account(ctx, b.ID, acc.ID); !telephony.IsNotFound(err) {
				t.Fatalf("tenant B read tenant A's account: %v", err)
			}
			list, err := db.Accounts(ctx, b.ID)
			if err != nil || len(list) != 0 {
				t.Fatalf("tenant B lists %v, %v", list, err)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.LinkAccount(ctx, a.ID, store.LinkAccount{Connector: "nope", Token: tok})
			var e *telephony.Error
			if !errors.As(err, &e) || e.Field != "connector" {
				t.Fatalf("unknown connector: %v", err)
			}
		})
	})
}

func TestSealer(t *testing.T) {
	s := storetest.Sealer(t)
	sealed := s.Seal([]byte("hello"), "a")
	if pt, err := s.Open(sealed, "a"); err != nil || string(pt) != "hello" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := s.Open(sealed, "b"); err == nil {
		t.Fatal("a value sealed for one place opened in another")
	}
	other, _ := store.NewSealer("another key entirely, 32 chars long")
	if _, err := other.Open(sealed, "a"); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if bytes.Equal(s.Seal([]byte("hello"), "a"), sealed) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
}
