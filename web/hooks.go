package web

import (
	"context"
	"errors"
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
// The answer comes fast (CRMs retry slow hooks): 200 once the changes are
// published, 503 when they could not be (so the CRM retries).
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request) {
	rt := s.Routing
	id, err := strconv.ParseInt(r.PathValue("account"), 10, 64)
	if err != nil || id <= 0 || rt.HookAccounts == nil || rt.HookConnectors == nil || rt.Invalidator == nil {
		Error(w, r, hookNotFound())
		return
	}
	tenantID, acct, err := rt.HookAccounts.HookAccount(r.Context(), id)
	if telephony.ErrorCode(err) == telephony.ENotFound || (err == nil && acct.Connector != r.PathValue("connector")) {
		Error(w, r, hookNotFound())
		return
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		Error(w, r, telephony.Errorf(telephony.ETooLarge, "", "webhook body is larger than %d bytes", maxHookBody))
		return
	}
	conn, err := rt.HookConnectors.ConnectorFor(r.Context(), id)
	if errors.Is(err, connectors.ErrUnauthorized) {
		Error(w, r, telephony.Errorf(telephony.EUnauthorized, "", "CRM account %d needs relinking; its webhooks cannot be verified", id))
		return
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	parser, ok := conn.(connectors.WebhookParser)
	if !ok {
		Error(w, r, hookNotFound())
		return
	}
	claimer, claims := conn.(webhookSecretClaimer)
	if claims {
		secret, err := claimer.ClaimWebhookSecret(r, body)
		switch {
		case errors.Is(err, connectors.ErrUnauthorized):
			Error(w, r, &telephony.Error{Code: telephony.EUnauthorized, Message: "webhook verification failed", Err: err})
			return
		case errors.Is(err, connectors.ErrInvalid):
			Error(w, r, &telephony.Error{Code: telephony.EInvalid, Message: "malformed webhook: " + err.Error(), Err: err})
			return
		case err != nil:
			Error(w, r, &telephony.Error{Code: telephony.EUnavailable, Message: "could not verify the webhook with the CRM; retry", Err: err})
			return
		case secret != "":
			stored, err := rt.HookAccounts.ClaimWebhookSecret(r.Context(), id, secret)
			if err != nil {
				Error(w, r, err)
				return
			}
			if inv, ok := rt.HookConnectors.(connectorInvalidator); ok {
				inv.Invalidate(id)
			}
			writeJSON(w, http.StatusOK, map[string]any{"changes": 0, "invalidated": 0, "webhook_secret_stored": stored})
			return
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
		Error(w, r, &telephony.Error{Code: telephony.EUnauthorized, Message: "webhook verification failed", Err: err})
		return
	case err != nil:
		Error(w, r, &telephony.Error{Code: telephony.EInvalid, Message: "malformed webhook: " + err.Error(), Err: err})
		return
	}
	t, err := s.Tenants.Tenant(r.Context(), tenantID)
	if err != nil {
		Error(w, r, err)
		return
	}
	n, err := rt.Invalidator.InvalidateChanges(r.Context(), tenantID, id, t.Region, changes)
	if err != nil {
		Error(w, r, &telephony.Error{Code: telephony.EUnavailable, Message: "could not publish the changes; retry", Err: err})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"changes": len(changes), "invalidated": n})
}

func hookNotFound() error {
	return telephony.Errorf(telephony.ENotFound, "", "no such webhook")
}
