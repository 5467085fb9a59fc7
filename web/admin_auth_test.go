package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/telephony"
)

// adminRoute is one admin route and who may use it.
type adminRoute struct {
	method, path string
	adminOnly    bool
	form         url.Values
}

// adminRoutes lists every admin route with tenant A's ids.
func (e *adminEnv) adminRoutes() []adminRoute {
	a := fmt.Sprint(e.accountA)
	return []adminRoute{
		{method: "GET", path: "/admin/"},
		{method: "GET", path: "/admin/integrations", adminOnly: true},
		{method: "POST", path: "/admin/connect/amocrm", adminOnly: true},
		{method: "GET", path: "/connect/amocrm/callback?code=x&state=y", adminOnly: true},
		{method: "POST", path: "/admin/accounts/" + a + "/sync", adminOnly: true},
		{method: "POST", path: "/admin/accounts/" + a + "/disconnect", adminOnly: true},
		{method: "GET", path: "/admin/accounts/" + a + "/mapping"},
		{method: "POST", path: "/admin/accounts/" + a + "/mapping", adminOnly: true,
			form: url.Values{"crm_user_id": {"3"}, "employee": {"none"}}},
		{method: "GET", path: "/admin/employees"},
		{method: "POST", path: fmt.Sprintf("/admin/employees/%d/delete", e.user.ID), adminOnly: true},
		{method: "GET", path: "/admin/routing", adminOnly: true},
		{method: "POST", path: "/admin/routing", adminOnly: true, form: url.Values{"order": {"lead,deal,contact"}, "kind": {"deal"}}},
		{method: "GET", path: "/admin/calls"},
	}
}

func (b *browser) call(rt adminRoute) page {
	b.t.Helper()
	if rt.method == "GET" {
		return b.get(rt.path)
	}
	form := url.Values{}
	for k, v := range rt.form {
		form[k] = v
	}
	return b.post(rt.path, form)
}

// TestAdmin_Authorization checks every admin route: 401 (or a redirect to
// /login for pages) without a session, 403 for a role without access and
// for a POST without the CSRF token, 404 for another tenant's ids.
func TestAdmin_Authorization(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		t.Run("NoSession", func(t *testing.T) {
			b := e.browser()
			for _, rt := range e.adminRoutes() {
				p := b.call(rt)
				if rt.method == "GET" {
					want := "/login?next=" + url.QueryEscape(rt.path)
					if p.Status != http.StatusSeeOther || p.Location != want {
						t.Errorf("%s %s: %d → %q, want 303 → %q", rt.method, rt.path, p.Status, p.Location, want)
					}
				} else if p.Status != http.StatusUnauthorized {
					t.Errorf("%s %s: %d, want 401", rt.method, rt.path, p.Status)
				}
			}
		})
		t.Run("DepartmentHead", func(t *testing.T) {
			b := e.browser()
			b.login(e.head.Login)
			for _, rt := range e.adminRoutes() {
				p := b.call(rt)
				switch {
				case rt.adminOnly && p.Status != http.StatusForbidden:
					t.Errorf("%s %s: %d, want 403", rt.method, rt.path, p.Status)
				case !rt.adminOnly && p.Status != http.StatusOK:
					t.Errorf("%s %s: %d, want 200: %s", rt.method, rt.path, p.Status, text(p.Body))
				}
			}
		})
		t.Run("UserRole", func(t *testing.T) {
			b := e.browser()
			p := b.get("/login")
			p = b.post("/login", url.Values{"login": {e.user.Login}, "password": {adminPassword}})
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "Only administrators and department heads") {
				t.Fatalf("user sign-in: %d %s", p.Status, text(p.Body))
			}
			// A department head demoted to user keeps the cookie but loses
			// access at once.
			b = e.browser()
			b.login(e.head.Login)
			e.patchRole(e.head.ID, telephony.RoleUser)
			defer e.patchRole(e.head.ID, telephony.RoleDepartmentHead)
			for _, rt := range e.adminRoutes() {
				if p := b.call(rt); p.Status != http.StatusForbidden {
					t.Errorf("%s %s as a user: %d, want 403", rt.method, rt.path, p.Status)
				}
			}
		})
		t.Run("AdministratorOtherTenant", func(t *testing.T) {
			b := e.browser()
			b.login(e.adminB.Login)
			for _, rt := range e.adminRoutes() {
				if !strings.Contains(rt.path, "/accounts/") && !strings.Contains(rt.path, "/employees/") {
					continue
				}
				if p := b.call(rt); p.Status != http.StatusNotFound {
					t.Errorf("%s %s of tenant A as tenant B's administrator: %d, want 404", rt.method, rt.path, p.Status)
				}
			}
			// Tenant B's own pages show nothing of tenant A.
			p := b.get("/admin/employees")
			if p.Status != http.StatusOK || strings.Contains(p.Body, "Olena Admin") || !strings.Contains(p.Body, "Bohdan Admin") {
				t.Errorf("tenant B's employees page: %d %s", p.Status, text(p.Body))
			}
		})
		t.Run("CSRF", func(t *testing.T) {
			b := e.browser()
			b.login(e.admin.Login)
			for _, rt := range e.adminRoutes() {
				if rt.method != "POST" {
					continue
				}
				form := url.Values{"csrf": {"forged"}}
				for k, v := range rt.form {
					form[k] = v
				}
				if p := b.post(rt.path, form); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "CSRF") {
					t.Errorf("%s %s with a forged token: %d, want 403", rt.method, rt.path, p.Status)
				}
			}
			if got := e.syncer.queued(); len(got) != 0 {
				t.Errorf("a forged form queued syncs %v", got)
			}
		})
		t.Run("Administrator", func(t *testing.T) {
			b := e.browser()
			b.login(e.admin.Login)
			for _, rt := range e.adminRoutes() {
				if rt.method != "GET" || strings.Contains(rt.path, "callback") {
					continue
				}
				if p := b.call(rt); p.Status != http.StatusOK {
					t.Errorf("%s %s: %d: %s", rt.method, rt.path, p.Status, text(p.Body))
				}
			}
		})
	})
}

func (e *adminEnv) patchRole(id int64, role string) {
	e.t.Helper()
	raw, _ := json.Marshal(role)
	if _, err := e.db.PatchEmployee(context.Background(), e.a.ID, id, telephony.EmployeePatch{"role": raw}); err != nil {
		e.t.Fatal(err)
	}
}
