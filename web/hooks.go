package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// HookAccounts finds the account a webhook URL names.
type HookAccounts interface {
	// HookAccount returns the account with id and its tenant, or
	// ENotFound. It is not tenant scoped: webhooks carry no API key.
	HookAccount(ctx context.Context, id int64) (tenantID int64, acct connectors.Account, err error)
	// HookAccountIDs returns the linked accounts of connector whose CRM
	// account id is externalID, in any tenant (app-level webhooks).
	HookAccountIDs(ctx context.Context, connector, externalID string) ([]int64, error)
	// ClaimWebhookSecret stores secret (sealed) as the account's webhook
	// secret if it has none yet, and reports whether it did.
	ClaimWebhookSecret(ctx context.Context, accountID int64, secret string) (bool, error)
}

// webhookSecretClaimer is implemented by connectors whose CRM hands the
// account's webhook secret over in a webhook (Bitrix24's ONAPPINSTALL
// carries the installation's application token). ClaimWebhookSecret
// returns the secret to store, verified, or "" when r is not such a
// handover or the account already has a secret; ErrUnauthorized when the
// handover fails verification, ErrInvalid when it is malformed.
type webhookSecretClaimer interface {
	ClaimWebhookSecret(r *http.Request, body []byte) (string, error)
}

// connectorInvalidator is implemented by HookConnectors that cache
// connectors (connectors.Resolver): after a webhook secret is stored, the
// account's connector is rebuilt with it.
type connectorInvalidator interface {
	Invalidate(accountID int64)
}

// HookConnectors builds an account's connector, whose WebhookParser
// verifies and decodes the CRM's request.
type HookConnectors interface {
	ConnectorFor(ctx context.Context, accountID int64) (connectors.Connector, error)
}

// maxHookBody bounds a webhook body (HubSpot batches up to 100 events).
const maxHookBody = 1 << 20

// handleHook receives a CRM's webhook at POST /hooks/{connector}/{account}
// and invalidates the cached routing answers it makes stale, in every
// router.
//
// {account} is the CRM account's id; it must exist and belong to
// {connector} (else 404). Verification is the connector's, as far as the
// vendor allows: HubSpot signs every request (X-HubSpot-Signature-v3 with
// the app's client secret; a bad or old signature is 401); amoCRM signs
// nothing, so its connector checks the account's subdomain, and the URL is
// the only secret. The trade-off, for now: whoever knows an amoCRM
// account's id can post to its hook. What that buys them is bounded: a
// hook only drops cached answers (they are looked up in the CRM again,
// never taken from the hook), so the worst is extra CRM lookups within the
// account's rate limit. An unguessable per-account token in {account}
// (e.g. "<id>.<token>") is an additive change if that is not enough.
//
// Bitrix24 signs nothing either, but each event carries the installation's
// application token, which the account keeps, sealed, as its webhook
// secret. Bitrix24 sends it first in ONAPPINSTALL: posted to the account's
// hook while the account has none, and verified by the connector with the
// portal, it is stored (200 with "webhook_secret_stored") and checked
// against every later event; until then the account's events are 401.
// A stored secret is never replaced through a hook. Other processes
// cache the account's connector without it: a connector that keeps such a
// secret and rejects an event is rebuilt once from the store and asked
// again.
//
// HubSpot's webhooks are app-level: one target URL receives every portal's
// events, so HubSpot's is POST /hooks/hubspot/app. The events name their
// portals (connectors.Info.WebhookAccounts); each linked account of those
// portals, in any tenant, verifies the request and takes its own portal's
// events. A request naming no linked portal is a 200 with no changes (an
// uninstalled portal's events must not be retried forever).
//
// The answer comes fast (CRMs retry slow hooks): 200 once the changes are
// published, 503 when they could not be (so the CRM retries).
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request) {
	rt := s.Routing
	if rt.HookAccounts == nil || rt.HookConnectors == nil || rt.Invalidator == nil {
		Error(w, r, hookNotFound())
		return
	}
	if r.PathValue("account") == "app" {
		s.handleAppHook(w, r)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("account"), 10, 64)
	if err != nil || id <= 0 {
		Error(w, r, hookNotFound())
		return
	}
	body, err := readHookBody(w, r)
	if err != nil {
		Error(w, r, err)
		return
	}
	res, err := s.hookAccount(r, id, body)
	if err != nil {
		Error(w, r, err)
		return
	}
	if res.secretStored != nil {
		writeJSON(w, http.StatusOK, map[string]any{"changes": 0, "invalidated": 0, "webhook_secret_stored": *res.secretStored})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"changes": res.changes, "invalidated": res.invalidated})
}

// handleAppHook serves POST /hooks/{connector}/app for vendors whose
// webhooks are app-level (connectors.Info.WebhookAccounts).
func (s *Server) handleAppHook(w http.ResponseWriter, r *http.Request) {
	info, err := connectors.Lookup(r.PathValue("connector"))
	if err != nil || info.WebhookAccounts == nil {
		Error(w, r, hookNotFound())
		return
	}
	body, err := readHookBody(w, r)
	if err != nil {
		Error(w, r, err)
		return
	}
	externalIDs, err := info.WebhookAccounts(body)
	if err != nil {
		Error(w, r, &telephony.Error{Code: telephony.EInvalid, Message: "malformed webhook: " + err.Error(), Err: err})
		return
	}
	total := map[string]int{"accounts": 0, "changes": 0, "invalidated": 0}
	for _, ext := range externalIDs {
		ids, err := s.Routing.HookAccounts.HookAccountIDs(r.Context(), info.Name, ext)
		if err != nil {
			Error(w, r, err)
			return
		}
		for _, id := range ids {
			res, err := s.hookAccount(r, id, body)
			if res.needsRelink {
				continue // this tenant's link is broken; the others still hear of it
			}
			if err != nil {
				Error(w, r, err)
				return
			}
			total["accounts"]++
			total["changes"] += res.changes
			total["invalidated"] += res.invalidated
		}
	}
	writeJSON(w, http.StatusOK, total)
}

// readHookBody reads a webhook's body, at most maxHookBody bytes.
func readHookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		return nil, telephony.Errorf(telephony.ETooLarge, "", "webhook body is larger than %d bytes", maxHookBody)
	}
	return body, nil
}

// hookResult is what one account made of a webhook.
type hookResult struct {
	changes, invalidated int
	secretStored         *bool // set when the request handed over the webhook secret
	needsRelink          bool  // the account cannot verify webhooks until relinked
}

// hookAccount verifies body as a webhook of account id and publishes the
// changes it makes to the account's tenant's routers. Its errors are the
// answers handleHook gives.
func (s *Server) hookAccount(r *http.Request, id int64, body []byte) (hookResult, error) {
	rt := s.Routing
	tenantID, acct, err := rt.HookAccounts.HookAccount(r.Context(), id)
	if telephony.ErrorCode(err) == telephony.ENotFound || (err == nil && acct.Connector != r.PathValue("connector")) {
		return hookResult{}, hookNotFound()
	}
	if err != nil {
		return hookResult{}, err
	}
	conn, err := rt.HookConnectors.ConnectorFor(r.Context(), id)
	if errors.Is(err, connectors.ErrUnauthorized) {
		return hookResult{needsRelink: true}, &telephony.Error{Code: telephony.EUnauthorized, Err: err,
			Message: fmt.Sprintf("CRM account %d needs relinking; its webhooks cannot be verified", id)}
	}
	if err != nil {
		return hookResult{}, err
	}
	parser, ok := conn.(connectors.WebhookParser)
	if !ok {
		return hookResult{}, hookNotFound()
	}
	claimer, claims := conn.(webhookSecretClaimer)
	if claims {
		secret, err := claimer.ClaimWebhookSecret(r, body)
		switch {
		case errors.Is(err, connectors.ErrUnauthorized):
			return hookResult{}, &telephony.Error{Code: telephony.EUnauthorized, Message: "webhook verification failed", Err: err}
		case errors.Is(err, connectors.ErrInvalid):
			return hookResult{}, &telephony.Error{Code: telephony.EInvalid, Message: "malformed webhook: " + err.Error(), Err: err}
		case err != nil:
			return hookResult{}, &telephony.Error{Code: telephony.EUnavailable, Message: "could not verify the webhook with the CRM; retry", Err: err}
		case secret != "":
			stored, err := rt.HookAccounts.ClaimWebhookSecret(r.Context(), id, secret)
			if err != nil {
				return hookResult{}, err
			}
			if inv, ok := rt.HookConnectors.(connectorInvalidator); ok {
				inv.Invalidate(id)
			}
			return hookResult{secretStored: &stored}, nil
		}
	}
	changes, err := parser.ParseWebhook(r, body)
	if inv, ok := rt.HookConnectors.(connectorInvalidator); ok && claims && errors.Is(err, connectors.ErrUnauthorized) {
		// This process may have built the connector before another one
		// stored the account's secret: rebuild it once from the store.
		inv.Invalidate(id)
		if conn, cerr := rt.HookConnectors.ConnectorFor(r.Context(), id); cerr == nil {
			if p, ok := conn.(connectors.WebhookParser); ok {
				changes, err = p.ParseWebhook(r, body)
			}
		}
	}
	switch {
	case errors.Is(err, connectors.ErrUnauthorized):
		return hookResult{}, &telephony.Error{Code: telephony.EUnauthorized, Message: "webhook verification failed", Err: err}
	case err != nil:
		return hookResult{}, &telephony.Error{Code: telephony.EInvalid, Message: "malformed webhook: " + err.Error(), Err: err}
	}
	t, err := s.Tenants.Tenant(r.Context(), tenantID)
	if err != nil {
		return hookResult{}, err
	}
	n, err := rt.Invalidator.InvalidateChanges(r.Context(), tenantID, id, t.Region, changes)
	if err != nil {
		return hookResult{}, &telephony.Error{Code: telephony.EUnavailable, Message: "could not publish the changes; retry", Err: err}
	}
	return hookResult{changes: len(changes), invalidated: n}, nil
}

func hookNotFound() error {
	return telephony.Errorf(telephony.ENotFound, "", "no such webhook")
}
