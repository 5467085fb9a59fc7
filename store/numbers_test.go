package store_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func TestDB_Numbers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := mustTenant(t, db, "19079"), mustTenant(t, db, "20000")
		n, err := db.CreateNumber(ctx, a.ID, telephony.NumberInput{Number: "044 123 45 67", Label: "Kyiv"})
		if err != nil || n.Number != "+380441234567" || n.Label != "Kyiv" {
			t.Fatalf("create: %+v, %v", n, err)
		}
		t.Run("ErrConflict", func(t *testing.T) {
			for _, tenant := range []int64{a.ID, b.ID} {
				_, err := db.CreateNumber(ctx, tenant, telephony.NumberInput{Number: "+380441234567"})
				wantErr(t, err, telephony.EConflict, "number", "this number is already assigned")
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.CreateNumber(ctx, a.ID, telephony.NumberInput{Number: "12"})
			wantInvalid(t, err, "number", "invalid phone number")
		})
		t.Run("TenantByNumber", func(t *testing.T) {
			got, err := db.TenantByNumber(ctx, "+380441234567")
			if err != nil || got.ID != a.ID || got.Prefix != "19079" {
				t.Fatalf("tenant = %+v, %v", got, err)
			}
			if _, err := db.TenantByNumber(ctx, "+380449999999"); !telephony.IsNotFound(err) {
				t.Errorf("unknown number: %v", err)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			if err := db.DeleteNumber(ctx, b.ID, n.ID); !telephony.IsNotFound(err) {
				t.Errorf("other tenant's delete: %v", err)
			}
			if ns, _ := db.Numbers(ctx, b.ID); len(ns) != 0 {
				t.Errorf("other tenant lists %+v", ns)
			}
			if err := db.DeleteNumber(ctx, a.ID, n.ID); err != nil {
				t.Fatal(err)
			}
			if ns, err := db.Numbers(ctx, a.ID); err != nil || len(ns) != 0 {
				t.Errorf("after delete: %+v, %v", ns, err)
			}
			if _, err := db.CreateNumber(ctx, b.ID, telephony.NumberInput{Number: "+380441234567"}); err != nil {
				t.Errorf("freed number: %v", err)
			}
		})
	})
}
