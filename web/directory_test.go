package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// env is a server over a real store with two tenants.
type env struct {
	t    *testing.T
	db   *store.DB
	h    http.Handler
	a, b apiClient // tenants A (prefix 19079) and B (prefix 20000)
}

// apiClient calls the API with one tenant's key.
type apiClient struct {
	env    *env
	tenant telephony.Tenant
	key    string
}

// eachEnv runs fn against SQLite and, when configured, PostgreSQL.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := &env{t: t, db: db, h: (&web.Server{Tenants: db, Directory: db}).Handler()}
		e.a = e.mustTenant("19079")
		e.b = e.mustTenant("20000")
		fn(t, e)
	})
}

func (e *env) mustTenant(prefix string) apiClient {
	tn, creds, err := e.db.CreateTenant(context.Background(), telephony.NewTenant{
		Name: "Tenant " + prefix, Prefix: prefix, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		e.t.Fatal(err)
	}
	return apiClient{env: e, tenant: tn, key: creds.APIKey}
}

// response is what a request returned.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// apiError is the error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		Errors  []struct {
			Code, Message, Field string
		} `json:"errors"`
	} `json:"error"`
}

// do sends body (nil, a string of JSON, or a value to encode).
func (c apiClient) do(method, path string, body any) response {
	c.env.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.env.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+c.key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	c.env.h.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// decode decodes r's body into v, failing unless r has status want.
func (r response) decode(t *testing.T, want int, v any) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Body, v); err != nil {
			t.Fatalf("decode %s: %v", r.Body, err)
		}
	}
}

// apiErr decodes an error body, failing unless the status is want.
func (r response) apiErr(t *testing.T, want int) apiError {
	t.Helper()
	var e apiError
	r.decode(t, want, &e)
	return e
}

func (c apiClient) mustCreate(path string, body any) map[string]any {
	c.env.t.Helper()
	var out map[string]any
	c.do("POST", path, body).decode(c.env.t, http.StatusCreated, &out)
	return out
}

func id(v map[string]any) string { return fmt.Sprint(int64(v["id"].(float64))) }

func TestDirectory_TenantIsolation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		dept := e.b.mustCreate("/api/v1/departments", map[string]any{"name": "Sales"})
		emp := e.b.mustCreate("/api/v1/employees", map[string]any{
			"email": "olga@example.com", "full_name": "Olga", "department_id": dept["id"], "main_contacts": []string{"0501234567"}})
		num := e.b.mustCreate("/api/v1/numbers", map[string]any{"number": "0441234567"})
		snapshot := func() []byte {
			var parts [][]byte
			for _, p := range []string{"/api/v1/employees", "/api/v1/departments", "/api/v1/numbers",
				"/api/v1/employees/" + id(emp), "/api/v1/departments/" + id(dept)} {
				r := e.b.do("GET", p, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("B GET %s: %d", p, r.Status)
				}
				parts = append(parts, r.Body)
			}
			return bytes.Join(parts, []byte("\n"))
		}
		before := snapshot()

		for _, p := range []string{"/api/v1/employees", "/api/v1/departments", "/api/v1/numbers"} {
			if r := e.a.do("GET", p, nil); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
				t.Errorf("A lists %s: %d %s", p, r.Status, r.Body)
			}
		}
		if r := e.a.do("GET", "/api/v1/employees?department_id="+id(dept), nil); strings.TrimSpace(string(r.Body)) != "[]" {
			t.Errorf("A lists B's department members: %s", r.Body)
		}
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/v1/employees/" + id(emp)},
			{"PUT", "/api/v1/employees/" + id(emp)},
			{"PATCH", "/api/v1/employees/" + id(emp)},
			{"DELETE", "/api/v1/employees/" + id(emp) + "?force=true"},
			{"GET", "/api/v1/departments/" + id(dept)},
			{"PUT", "/api/v1/departments/" + id(dept)},
			{"DELETE", "/api/v1/departments/" + id(dept) + "?force=true"},
			{"DELETE", "/api/v1/numbers/" + id(num)},
		} {
			var body any
			if req.method == "PUT" || req.method == "PATCH" {
				if strings.Contains(req.path, "employees") {
					body = map[string]any{"full_name": "Hacked"}
				} else {
					body = map[string]any{"name": "Hacked"}
				}
			}
			if r := e.a.do(req.method, req.path, body); r.Status != http.StatusNotFound {
				t.Errorf("A %s %s: %d %s, want 404", req.method, req.path, r.Status, r.Body)
			} else if er := r.apiErr(t, http.StatusNotFound); er.Error.Code != "not_found" {
				t.Errorf("A %s %s: code %q", req.method, req.path, er.Error.Code)
			}
		}
		// Pointing at B's records from A is "does not exist", not a leak.
		r := e.a.do("POST", "/api/v1/employees", map[string]any{"email": "x@example.com", "full_name": "X",
			"department_id": dept["id"], "no_answer": map[string]any{"timeout_s": 10, "action": "employee", "target_id": emp["id"]}})
		er := r.apiErr(t, http.StatusBadRequest)
		if len(er.Error.Errors) != 2 || er.Error.Errors[0].Message != "department "+id(dept)+" does not exist" ||
			er.Error.Errors[1].Field != "no_answer.target_id" {
			t.Errorf("A refers to B's records: %s", r.Body)
		}
		// A DID belongs to one tenant, and the conflict does not say whose.
		r = e.a.do("POST", "/api/v1/numbers", map[string]any{"number": "+380441234567"})
		if er := r.apiErr(t, http.StatusConflict); er.Error.Field != "number" || er.Error.Message != "this number is already assigned" {
			t.Errorf("A takes B's number: %s", r.Body)
		}
		if diff := cmp.Diff(string(before), string(snapshot())); diff != "" {
			t.Errorf("B's data changed (-before +after):\n%s", diff)
		}
	})
}

func TestDirectory_Departments(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := e.a.do("POST", "/api/v1/departments", map[string]any{"name": "Sales", "extension": "200"})
		var d telephony.Department
		r.decode(t, http.StatusCreated, &d)
		if r.Header.Get("Location") != "/api/v1/departments/"+fmt.Sprint(d.ID) || d.Name != "Sales" || d.Extension != "200" {
			t.Fatalf("created %+v at %q", d, r.Header.Get("Location"))
		}
		for _, tt := range []struct {
			body       map[string]any
			status     int
			field, msg string
		}{
			{map[string]any{"name": " "}, 400, "name", "is required"},
			{map[string]any{"name": "sales"}, 409, "name", "a department with this name already exists"},
			{map[string]any{"name": "Support", "extension": "200"}, 409, "extension", "taken by another employee or department"},
			{map[string]any{"name": "Support", "extension": "911"}, 400, "extension", "emergency number"},
		} {
			er := e.a.do("POST", "/api/v1/departments", tt.body).apiErr(t, tt.status)
			if er.Error.Field != tt.field || !strings.Contains(er.Error.Message, tt.msg) {
				t.Errorf("%v: %+v", tt.body, er.Error)
			}
		}
		emp := e.a.mustCreate("/api/v1/employees", map[string]any{"email": "e@example.com", "full_name": "Eve", "department_id": d.ID})
		er := e.a.do("POST", "/api/v1/departments", map[string]any{"name": "Support", "extension": emp["extension"]}).apiErr(t, 409)
		if er.Error.Field != "extension" {
			t.Errorf("department takes an employee's extension: %+v", er.Error)
		}
		r = e.a.do("PUT", "/api/v1/departments/"+fmt.Sprint(d.ID), map[string]any{"id": d.ID, "name": "Sales EU", "created_at": d.CreatedAt})
		r.decode(t, http.StatusOK, &d)
		if d.Name != "Sales EU" || d.Extension != "200" {
			t.Errorf("after PUT: %+v", d)
		}
		er = e.a.do("DELETE", "/api/v1/departments/"+fmt.Sprint(d.ID), nil).apiErr(t, http.StatusConflict)
		if er.Error.Code != "precondition" || er.Error.Message != "Sales EU has 1 member (Eve); pass ?force=true to delete anyway" {
			t.Errorf("delete refused with %+v", er.Error)
		}
		if r := e.a.do("DELETE", "/api/v1/departments/"+fmt.Sprint(d.ID)+"?force=true", nil); r.Status != http.StatusNoContent {
			t.Fatalf("forced delete: %d %s", r.Status, r.Body)
		}
		var got telephony.Employee
		e.a.do("GET", "/api/v1/employees/"+id(emp), nil).decode(t, http.StatusOK, &got)
		if got.DepartmentID != nil {
			t.Errorf("member keeps department %d", *got.DepartmentID)
		}
	})
}

func TestDirectory_Numbers(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := e.a.do("POST", "/api/v1/numbers", map[string]any{"number": "(044) 123-45-67", "label": "Kyiv"})
		var n telephony.PhoneNumber
		r.decode(t, http.StatusCreated, &n)
		if n.Number != "+380441234567" || n.Label != "Kyiv" || r.Header.Get("Location") != "/api/v1/numbers/"+fmt.Sprint(n.ID) {
			t.Fatalf("created %+v", n)
		}
		if er := e.a.do("POST", "/api/v1/numbers", map[string]any{"number": "12"}).apiErr(t, 400); er.Error.Field != "number" {
			t.Errorf("bad number: %+v", er.Error)
		}
		var list []telephony.PhoneNumber
		e.a.do("GET", "/api/v1/numbers", nil).decode(t, http.StatusOK, &list)
		if len(list) != 1 || list[0] != n {
			t.Errorf("list = %+v", list)
		}
		if r := e.a.do("DELETE", "/api/v1/numbers/"+fmt.Sprint(n.ID), nil); r.Status != http.StatusNoContent {
			t.Errorf("delete: %d", r.Status)
		}
		if r := e.a.do("DELETE", "/api/v1/numbers/"+fmt.Sprint(n.ID), nil); r.Status != http.StatusNotFound {
			t.Errorf("second delete: %d", r.Status)
		}
	})
}

func TestDirectory_Seats(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		for i := range 5 {
			e.a.mustCreate("/api/v1/employees", map[string]any{"email": fmt.Sprintf("e%d@example.com", i), "full_name": fmt.Sprint("E", i),
				"enabled": i != 4})
		}
		var view struct {
			Seats telephony.Seats `json:"seats"`
		}
		e.a.do("GET", "/api/v1/tenant", nil).decode(t, http.StatusOK, &view)
		if view.Seats != (telephony.Seats{Included: 3, Active: 4, Billable: 1}) {
			t.Errorf("seats = %+v", view.Seats)
		}
	})
}
