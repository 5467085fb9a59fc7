package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// Routing wires smart forwarding into the server: the route tester,
// recorded decisions, CRM webhooks and cache invalidation. Nil fields
// leave their routes out (503) or, for Invalidator and Recorder, do
// nothing.
type Routing struct {
	// Router answers GET /api/v1/route; telephony/routing's Resolver.
	Router Router
	// Decisions serves GET /api/v1/calls/{sip_call_id}/route; the store.
	Decisions Decisions
	// Recorder keeps the decisions of lookups that name a call_id;
	// telephony/routing's Recorder.
	Recorder DecisionRecorder
	// Invalidator tells every router that cached routing data changed;
	// telephony/routing's Invalidator.
	Invalidator Invalidator
	// HookAccounts and HookConnectors verify and decode CRM webhooks: the
	// store and connectors.Resolver.
	HookAccounts   HookAccounts
	HookConnectors HookConnectors
}

// Router says where a call would go now, and why.
type Router interface {
	// Explain resolves q like the SIP router does, with the steps. It
	// never fails: errors are fallbacks with a reason.
	Explain(ctx context.Context, q telephony.RouteQuery) telephony.Decision
}

// Decisions reads the decisions the router recorded.
type Decisions interface {
	// DecisionByCallID returns the tenant's first decision for the call
	// and when it was recorded, or ENotFound.
	DecisionByCallID(ctx context.Context, tenantID int64, sipCallID string) (telephony.Decision, time.Time, error)
}

// DecisionRecorder keeps decisions off the request path.
type DecisionRecorder interface {
	Record(d telephony.Decision, sipCallID string)
}

// routeRoutes registers the route tester and past decisions; api wraps
// each handler in authentication.
func (s *Server) routeRoutes(api func(string, func(http.ResponseWriter, *http.Request))) {
	api("GET /api/v1/route", s.handleRoute)
	api("GET /api/v1/calls/{sip_call_id}/route", s.handleCallRoute)
}

// routeView is a decision as GET /api/v1/route shows it.
type routeView struct {
	telephony.Decision
	SIPStatus int `json:"sip_status"` // what the SIP router answers: 302, 404 or 480
}

// handleRoute answers GET /api/v1/route?caller=&did=[&call_id=][&format=text]:
// what would happen to a call now and why, from the resolver the SIP router
// uses. It is also the lookup for PBXes that route over HTTP (Asterisk's
// CURL()): with format=text (or Accept: text/plain) the body is only the
// first contact, empty for a fallback, and errors have an empty body too,
// so a dialplan can use the body as it is. The DID must be one of the
// tenant's numbers; an empty caller is a withheld one. With call_id the
// decision is recorded for the call, as the SIP router records its own.
func (s *Server) handleRoute(w http.ResponseWriter, r *http.Request) {
	text := wantsText(r)
	d, err := s.route(r)
	if err != nil {
		if text {
			textError(w, r, err)
			return
		}
		Error(w, r, err)
		return
	}
	if text {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Crmsync-Outcome", string(d.Outcome))
		h.Set("X-Crmsync-Reason", headerSafe(d.Reason))
		h.Set("X-Crmsync-Contacts", strings.Join(d.Contacts, ","))
		w.WriteHeader(http.StatusOK)
		if len(d.Contacts) > 0 {
			_, _ = w.Write([]byte(d.Contacts[0]))
		}
		return
	}
	writeJSON(w, http.StatusOK, routeView{Decision: d, SIPStatus: d.SIPStatus()})
}

func (s *Server) route(r *http.Request) (telephony.Decision, error) {
	if s.Routing.Router == nil {
		return telephony.Decision{}, telephony.Errorf(telephony.EUnavailable, "", "call routing is not configured in this process")
	}
	t := tenantFrom(r)
	q := r.URL.Query()
	raw := strings.TrimSpace(q.Get("did"))
	if raw == "" {
		return telephony.Decision{}, telephony.Errorf(telephony.EInvalid, "did", "is required: the number that was called")
	}
	did, err := mapping.E164(raw, t.Region)
	if err != nil {
		return telephony.Decision{}, telephony.Errorf(telephony.EInvalid, "did", "%s", strings.TrimPrefix(err.Error(), "mapping: "))
	}
	numbers, err := s.Directory.Numbers(r.Context(), t.ID)
	if err != nil {
		return telephony.Decision{}, err
	}
	owned := false
	for _, n := range numbers {
		owned = owned || n.Number == did
	}
	if !owned {
		return telephony.Decision{}, telephony.Errorf(telephony.ENotFound, "did", "%s is not one of this tenant's numbers", did)
	}
	caller := strings.TrimSpace(q.Get("caller"))
	if caller == "" {
		caller = "anonymous"
	}
	callID := q.Get("call_id")
	d := s.Routing.Router.Explain(r.Context(), telephony.RouteQuery{CallID: callID, Caller: caller, DID: did, TenantID: t.ID})
	if callID != "" && s.Routing.Recorder != nil {
		s.Routing.Recorder.Record(d, callID)
	}
	return d, nil
}

// pastDecision is GET /api/v1/calls/{sip_call_id}/route.
type pastDecision struct {
	SIPCallID  string    `json:"sip_call_id"`
	RecordedAt time.Time `json:"recorded_at"`
	telephony.Decision
}

// handleCallRoute shows the decision the router recorded for a call of
// the tenant (contacts and steps are not kept).
func (s *Server) handleCallRoute(w http.ResponseWriter, r *http.Request) {
	if s.Routing.Decisions == nil {
		Error(w, r, telephony.Errorf(telephony.EUnavailable, "", "recorded decisions are not available in this process"))
		return
	}
	id := r.PathValue("sip_call_id")
	d, at, err := s.Routing.Decisions.DecisionByCallID(r.Context(), tenantFrom(r).ID, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pastDecision{SIPCallID: id, RecordedAt: at, Decision: d})
}

// wantsText reports whether the client asked for the plain-text form.
func wantsText(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return strings.EqualFold(f, "text")
	}
	accept := r.Header.Get("Accept")
	return strings.HasPrefix(accept, "text/plain")
}

// textError answers a plain-text request with the error's status and an
// empty body (a dialplan must not dial an error message); the message
// goes in X-Crmsync-Error.
func textError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error; it has been logged"
	var e *telephony.Error
	if st, known := statusOf[telephony.ErrorCode(err)]; known && errors.As(err, &e) {
		status, msg = st, e.Error()
	} else {
		slog.Default().Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Crmsync-Error", headerSafe(msg))
	w.WriteHeader(status)
}

// headerSafe makes s fit in a header value: no control characters.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
