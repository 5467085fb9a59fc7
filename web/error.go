package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/telephony"
)

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    telephony.Code `json:"code"`
	Message string         `json:"message"`
	Field   string         `json:"field,omitempty"`
	// Errors lists every field error when there is more than one.
	Errors []errorDetail `json:"errors,omitempty"`
}

var statusOf = map[telephony.Code]int{
	telephony.EInvalid:      http.StatusBadRequest,
	telephony.EConflict:     http.StatusConflict,
	telephony.ENotFound:     http.StatusNotFound,
	telephony.EUnauthorized: http.StatusUnauthorized,
	telephony.EForbidden:    http.StatusForbidden,
	telephony.EUnavailable:  http.StatusServiceUnavailable,
	telephony.ERateLimited:  http.StatusTooManyRequests,
	telephony.ETooLarge:     http.StatusRequestEntityTooLarge,
	telephony.EPrecondition: http.StatusConflict,
}

// Error writes err as a JSON error with the status its code maps to. It is
// the one place API errors are rendered and logged: internal errors are
// logged with their cause and shown as a generic message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	var es telephony.Errors
	if errors.As(err, &es) && len(es) > 0 {
		body := errorBody{Error: detail(es[0])}
		if len(es) > 1 {
			body.Error.Message = es.Error()
			body.Error.Field = es[0].Field
			for _, e := range es {
				body.Error.Errors = append(body.Error.Errors, detail(e))
			}
		}
		writeJSON(w, http.StatusBadRequest, body)
		return
	}
	var e *telephony.Error
	if !errors.As(err, &e) || e.Code == telephony.EInternal {
		slog.Default().Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{
			Code: telephony.EInternal, Message: "internal error; it has been logged",
		}})
		return
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="crmsync"`)
	}
	writeJSON(w, status, errorBody{Error: detail(e)})
}

func detail(e *telephony.Error) errorDetail {
	return errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
}

func notFoundRoute(r *http.Request) error {
	return telephony.Errorf(telephony.ENotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// readJSON decodes a JSON request body into v, rejecting unknown fields,
// trailing data and bodies over maxBody, with errors that say what is wrong.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return telephony.Errorf(telephony.EInvalid, "", "Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return telephony.Errorf(telephony.EInvalid, "", "request body must hold a single JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a message naming the field.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return telephony.Errorf(telephony.EInvalid, "", "request body is empty; send a JSON object")
	case errors.As(err, &syn):
		return telephony.Errorf(telephony.EInvalid, "", "malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return telephony.Errorf(telephony.EInvalid, typ.Field, "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &tooBig):
		return telephony.Errorf(telephony.ETooLarge, "", "request body is larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return telephony.Errorf(telephony.EInvalid, field, "unknown field")
	}
	return telephony.Errorf(telephony.EInvalid, "", "malformed JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}
