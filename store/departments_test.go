package store_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func TestDB_Departments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		sales, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: " Sales "})
		if err != nil || sales.Name != "Sales" || sales.Extension != "100" {
			t.Fatalf("create: %+v, %v", sales, err)
		}
		t.Run("ErrConflict", func(t *testing.T) {
			_, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "SALES"})
			wantErr(t, err, telephony.EConflict, "name", "already exists")
			in := person("Ext Holder", "ext@example.com")
			in.Extension = "200"
			mustEmployee(t, db, tn.ID, in)
			_, err = db.UpdateDepartment(ctx, tn.ID, sales.ID, telephony.DepartmentInput{Name: "Sales", Extension: "200"})
			wantErr(t, err, telephony.EConflict, "extension", "taken by another employee or department")
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "", Extension: "999"})
			wantInvalid(t, err, "name", "is required")
		})
		t.Run("Update", func(t *testing.T) {
			d, err := db.UpdateDepartment(ctx, tn.ID, sales.ID, telephony.DepartmentInput{Name: "Sales EU"})
			if err != nil || d.Name != "Sales EU" || d.Extension != "100" {
				t.Fatalf("update: %+v, %v", d, err)
			}
			d, err = db.UpdateDepartment(ctx, tn.ID, sales.ID, telephony.DepartmentInput{Name: "Sales EU", Extension: "300"})
			if err != nil || d.Extension != "300" {
				t.Fatalf("update: %+v, %v", d, err)
			}
			if e := mustEmployee(t, db, tn.ID, person("Gets 100", "g100@example.com")); e.Extension != "100" {
				t.Errorf("freed extension not reused: %s", e.Extension)
			}
		})
		t.Run("ErrNotFoundOtherTenant", func(t *testing.T) {
			other := mustTenant(t, db, "20000")
			if _, err := db.Department(ctx, other.ID, sales.ID); !telephony.IsNotFound(err) {
				t.Errorf("read: %v", err)
			}
			if _, err := db.UpdateDepartment(ctx, other.ID, sales.ID, telephony.DepartmentInput{Name: "Mine"}); !telephony.IsNotFound(err) {
				t.Errorf("update: %v", err)
			}
			if err := db.DeleteDepartment(ctx, other.ID, sales.ID, true); !telephony.IsNotFound(err) {
				t.Errorf("delete: %v", err)
			}
			if ds, _ := db.Departments(ctx, other.ID); len(ds) != 0 {
				t.Errorf("list: %+v", ds)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			member := person("Member One", "m1@example.com")
			member.DepartmentID = &sales.ID
			m := mustEmployee(t, db, tn.ID, member)
			fan := person("Fan", "fan@example.com")
			fan.NoAnswer = &telephony.NoAnswer{TimeoutS: 10, Action: "department", TargetID: &sales.ID}
			mustEmployee(t, db, tn.ID, fan)
			err := db.DeleteDepartment(ctx, tn.ID, sales.ID, false)
			wantErr(t, err, telephony.EPrecondition, "",
				"Sales EU has 1 member (Member One) and is the no-answer target of Fan; pass ?force=true to delete anyway")
			if err := db.DeleteDepartment(ctx, tn.ID, sales.ID, true); err != nil {
				t.Fatal(err)
			}
			got, err := db.Employee(ctx, tn.ID, m.ID)
			if err != nil || got.DepartmentID != nil {
				t.Errorf("member after delete: %+v, %v", got.DepartmentID, err)
			}
			if _, err := db.Department(ctx, tn.ID, sales.ID); !telephony.IsNotFound(err) {
				t.Errorf("deleted department: %v", err)
			}
			d, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "Sales EU", Extension: "300"})
			if err != nil {
				t.Fatalf("name and extension not freed: %+v, %v", d, err)
			}
			if err := db.DeleteDepartment(ctx, tn.ID, d.ID, false); err != nil {
				t.Fatalf("empty department: %v", err)
			}
		})
	})
}
