package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func TestDB_CreateTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t.Run("OK", func(t *testing.T) {
			tn, creds, err := db.CreateTenant(ctx, telephony.NewTenant{Name: " Acme ", Prefix: "19079", Region: "ua", TimeZone: "Europe/Kyiv"})
			if err != nil {
				t.Fatal(err)
			}
			if tn.Name != "Acme" || tn.Prefix != "19079" || tn.Region != "UA" || tn.TimeZone != "Europe/Kyiv" {
				t.Errorf("tenant = %+v", tn)
			}
			if tn.Routing.Deadline != telephony.DefaultDeadline || len(tn.Routing.Order) != 3 {
				t.Errorf("routing defaults = %+v", tn.Routing)
			}
			got, err := db.TenantByAPIKey(ctx, creds.APIKey)
			if err != nil || got.ID != tn.ID {
				t.Fatalf("TenantByAPIKey = %+v, %v", got, err)
			}
			secret, err := db.SigningSecret(ctx, tn.ID)
			if err != nil || secret != creds.SigningSecret {
				t.Fatalf("SigningSecret = %q, %v; want the one shown at creation", secret, err)
			}
		})
		t.Run("ErrConflict", func(t *testing.T) {
			_, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Other", Prefix: "19079"})
			var e *telephony.Error
			if !errors.As(err, &e) || e.Code != telephony.EConflict || e.Field != "prefix" {
				t.Fatalf("err = %#v, want conflict on prefix", err)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "", Prefix: "x1", Region: "ZZ", TimeZone: "Mars/Base"})
			es, ok := err.(telephony.Errors)
			if !ok || len(es) != 4 {
				t.Fatalf("err = %v, want 4 field errors (name, prefix, region, timezone)", err)
			}
		})
		t.Run("UnknownKey", func(t *testing.T) {
			_, err := db.TenantByAPIKey(ctx, "csk_nope")
			if telephony.ErrorCode(err) != telephony.EUnauthorized {
				t.Fatalf("err = %v, want unauthorized", err)
			}
		})
		t.Run("RandomPrefix", func(t *testing.T) {
			tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Auto"})
			if err != nil || len(tn.Prefix) != 5 {
				t.Fatalf("tenant = %+v, %v; want a 5-digit prefix", tn, err)
			}
		})
	})
}
