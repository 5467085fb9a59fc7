package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// The smart-forwarding page: which entity kinds to search and in what order
// (moved with ↑/↓ buttons, so it works without scripts and on a phone), the
// deadline, the fallback and the push-back options, saved through
// Tenants.UpdateRouting; and the route tester, which asks the resolver the
// SIP router uses (Routing.Router.Explain) where a call from a number to one
// of the tenant's DIDs would go right now, and shows its steps.

// kindRow is one entity kind in the order list.
type kindRow struct {
	Kind        string
	Enabled     bool
	First, Last bool
	Meaning     []string // what the kind is in each linked CRM
}

type routingView struct {
	Routing telephony.Routing
	Kinds   []kindRow
	Order   string // every kind in the shown order, for the form
	Numbers []telephony.PhoneNumber
	// The tester's query and answer.
	Caller, DID string
	Result      *routeView
	TestError   string
	Employee    string // the routed employee's name
}

// kindOrder lists every kind: the enabled ones in the tenant's order, then
// the others in the default order.
func kindOrder(r telephony.Routing) []string {
	out := slices.Clone(r.Order)
	for _, k := range telephony.EntityKinds {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// handleRoutingPage serves GET /admin/routing[?caller=&did=].
func (s *Server) handleRoutingPage(w http.ResponseWriter, r *http.Request) {
	t := tenantFrom(r)
	rv := routingView{Routing: t.Routing}
	order := kindOrder(t.Routing)
	rv.Order = strings.Join(order, ",")
	accounts, err := s.accountViews(r, 0)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for i, k := range order {
		row := kindRow{Kind: k, Enabled: slices.Contains(t.Routing.Order, k), First: i == 0, Last: i == len(order)-1}
		for _, a := range accounts {
			if a.Status == connectors.StatusDisconnected {
				continue
			}
			meaning := "not searchable"
			if info, err := connectors.Lookup(a.Connector); err == nil && info.Kinds[connectors.EntityKind(k)] != "" {
				meaning = info.Kinds[connectors.EntityKind(k)]
			}
			row.Meaning = append(row.Meaning, a.DisplayName+": "+meaning)
		}
		rv.Kinds = append(rv.Kinds, row)
	}
	if rv.Numbers, err = s.Directory.Numbers(r.Context(), t.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	rv.Caller, rv.DID = q.Get("caller"), q.Get("did")
	if q.Has("did") {
		d, err := s.route(r)
		var te *telephony.Error
		switch {
		case err == nil:
			rv.Result = &routeView{Decision: d, SIPStatus: d.SIPStatus()}
			if d.EmployeeID != 0 {
				if e, err := s.Directory.Employee(r.Context(), t.ID, d.EmployeeID); err == nil {
					rv.Employee = e.FullName
				}
			}
		case errors.As(err, &te) && te.Code != telephony.EInternal:
			rv.TestError = te.Error()
		default:
			s.pageError(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "routing", pageData{Title: "Smart forwarding", Nav: "routing", Page: rv})
}

// handleSaveRouting serves POST /admin/routing: order (every kind in the
// shown order), kind (the checked ones), deadline_ms, fallback,
// unknown_caller, missed_call_task, notify_responsible, and optionally
// move=KIND:up|down to move a kind first.
func (s *Server) handleSaveRouting(w http.ResponseWriter, r *http.Request) {
	t := tenantFrom(r)
	f := r.PostForm
	order := strings.Split(f.Get("order"), ",")
	if !samePermutation(order, telephony.EntityKinds) {
		order = kindOrder(t.Routing)
	}
	if kind, dir, ok := strings.Cut(f.Get("move"), ":"); ok {
		if i := slices.Index(order, kind); i >= 0 {
			j := i - 1
			if dir == "down" {
				j = i + 1
			}
			if j >= 0 && j < len(order) {
				order[i], order[j] = order[j], order[i]
			}
		}
	}
	enabled := f["kind"]
	next := t.Routing
	next.Order = nil
	for _, k := range order {
		if slices.Contains(enabled, k) {
			next.Order = append(next.Order, k)
		}
	}
	var es telephony.Errors
	if raw := strings.TrimSpace(f.Get("deadline_ms")); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			es.Add("deadline_ms", "must be a whole number of milliseconds")
		}
		next.Deadline = telephony.Millis(n)
	}
	if v := f.Get("fallback"); v != "" {
		next.Fallback = v
	}
	if v := f.Get("unknown_caller"); v != "" {
		next.UnknownCaller = v
	}
	next.MissedCallTask = f.Get("missed_call_task") == "on"
	next.NotifyResponsible = f.Get("notify_responsible") == "on"
	err := es.Err()
	if err == nil {
		err = s.Tenants.UpdateRouting(r.Context(), t.ID, next)
	}
	var te *telephony.Error
	var tes telephony.Errors
	switch {
	case errors.As(err, &tes):
		s.setFlash(w, "error", "Not saved: "+tes.Error())
	case errors.As(err, &te) && te.Code == telephony.EInvalid:
		s.setFlash(w, "error", "Not saved: "+te.Error())
	case err != nil:
		s.pageError(w, r, err)
		return
	default:
		s.changed(r)
		s.setFlash(w, "ok", fmt.Sprintf("Saved: search %s, deadline %d ms, fallback %s.",
			strings.Join(next.Order, " → "), next.Deadline, next.Fallback))
	}
	http.Redirect(w, r, "/admin/routing", http.StatusSeeOther)
}

// samePermutation reports whether a holds exactly the items of b.
func samePermutation(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}
