package bitrix24test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// maxBatch is the most commands one batch runs.
const maxBatch = 50

// list is what a list method adds to its answer.
type list struct{ total, next int }

// method serves one REST method; it runs under h.mu.
type method func(h *Handler, s *session, p params) (any, *list, *apiError)

var methods map[string]method

func init() {
	methods = map[string]method{
		"user.get":     (*Handler).userGet,
		"user.current": (*Handler).userCurrent,
		"telephony.externalcall.searchcrmentities": (*Handler).searchCrmEntities,
		"crm.duplicate.findbycomm":                 (*Handler).findByComm,
		"crm.lead.get":                             getter(typeLead),
		"crm.deal.get":                             getter(typeDeal),
		"crm.contact.get":                          getter(typeContact),
		"crm.company.get":                          getter(typeCompany),
		"crm.lead.list":                            lister(typeLead),
		"crm.deal.list":                            lister(typeDeal),
		"crm.contact.list":                         lister(typeContact),
		"crm.company.list":                         lister(typeCompany),
		"telephony.externalcall.register":          (*Handler).register,
		"telephony.externalcall.finish":            (*Handler).finish,
		"telephony.externalcall.attachrecord":      (*Handler).attachRecord,
		"crm.timeline.note.save":                   (*Handler).saveNote,
		"crm.activity.todo.add":                    (*Handler).addTodo,
		"app.info":                                 (*Handler).appInfo,
	}
}

// session is one HTTP request: the calls it wrote reach the Backend once,
// when it ends.
type session struct {
	touched []*call
}

func (s *session) touch(c *call) {
	if !slices.Contains(s.touched, c) {
		s.touched = append(s.touched, c)
	}
}

// commit writes the touched calls to the Backend; callers hold h.mu.
func (h *Handler) commit(s *session) {
	for _, c := range s.touched {
		if c.backendID == "" {
			c.backendID = h.Backend.CreateCall(c.act)
			continue
		}
		act := c.act
		_ = h.Backend.UpdateCall(c.backendID, func(a *connectors.CallActivity) { *a = act })
	}
}

func (h *Handler) handleREST(w http.ResponseWriter, r *http.Request) {
	if h.Backend.Intercept(w, r, errorBody) {
		return // an injected fault answered
	}
	name := strings.ToLower(strings.TrimSuffix(r.PathValue("method"), ".json"))
	p, err := readParams(r)
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "INVALID_REQUEST", "%v", err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if r.Header.Get("Authorization") != "" {
		h.headerAuth++
	}
	if !h.bucket.allow(h.Limit, now) {
		writeError(w, errorf(http.StatusServiceUnavailable, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
		return
	}
	if e := h.authorize(p.get("auth"), now); e != nil {
		writeError(w, e)
		return
	}
	s := &session{}
	var res any
	var l *list
	var e *apiError
	if name == "batch" {
		res, e = h.batch(s, p)
	} else {
		res, l, e = h.dispatch(s, name, p)
	}
	h.commit(s)
	if e != nil {
		writeError(w, e)
		return
	}
	out := map[string]any{"result": res, "time": timing(now)}
	if l != nil {
		out["total"] = l.total
		if l.next > 0 {
			out["next"] = l.next
		}
	}
	writeJSON(w, out)
}

// authorize checks an access token; callers hold h.mu.
func (h *Handler) authorize(tok string, now time.Time) *apiError {
	if tok == "" {
		return errorf(http.StatusUnauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
	}
	exp, ok := h.access[tok]
	switch {
	case !ok:
		return errorf(http.StatusUnauthorized, "invalid_token", "The access token provided is invalid.")
	case !now.Before(exp):
		return errorf(http.StatusUnauthorized, "expired_token", "The access token provided has expired.")
	}
	return nil
}

func (h *Handler) dispatch(s *session, name string, p params) (any, *list, *apiError) {
	m, ok := methods[name]
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
	}
	if scope := scopeOf(name); scope != "" && !slices.Contains(h.Scopes, scope) {
		return nil, nil, errorf(http.StatusForbidden, "insufficient_scope", "The request requires higher privileges than provided by the access token")
	}
	return m(h, s, p)
}

// resultRef is a batch reference to an earlier command's result.
var resultRef = regexp.MustCompile(`\$result\[([^\]]+)\]((?:\[[^\]]*\])*)`)

// batch runs cmd[key]="method?query" commands in order.
func (h *Handler) batch(s *session, p params) (any, *apiError) {
	results, errs := map[string]any{}, map[string]any{}
	totals, nexts := map[string]any{}, map[string]any{}
	generic := map[string]any{} // results as JSON values, for references
	halt := p.flag("halt")
	for i, cmd := range p.sub("cmd") {
		if i >= maxBatch {
			errs[cmd.key] = errBody(errorf(http.StatusBadRequest, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"))
			continue
		}
		name, query, _ := strings.Cut(cmd.val, "?")
		name = strings.ToLower(strings.TrimSuffix(name, ".json"))
		sub, err := parseForm(query)
		if err != nil {
			errs[cmd.key] = errBody(errorf(http.StatusBadRequest, "INVALID_REQUEST", "%v", err))
			continue
		}
		for j := range sub {
			sub[j].val = resultRef.ReplaceAllStringFunc(sub[j].val, func(ref string) string {
				return lookup(generic, resultRef.FindStringSubmatch(ref))
			})
		}
		var res any
		var l *list
		var e *apiError
		if name == "batch" {
			e = errorf(http.StatusMethodNotAllowed, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
		} else {
			res, l, e = h.dispatch(s, name, sub)
		}
		if e != nil {
			errs[cmd.key] = errBody(e)
			if halt {
				break
			}
			continue
		}
		results[cmd.key] = res
		generic[cmd.key] = asJSON(res)
		if l != nil {
			totals[cmd.key] = l.total
			if l.next > 0 {
				nexts[cmd.key] = l.next
			}
		}
	}
	return map[string]any{
		"result": phpObject(results), "result_error": phpObject(errs),
		"result_total": phpObject(totals), "result_next": phpObject(nexts), "result_time": []any{},
	}, nil
}

func errBody(e *apiError) map[string]string {
	return map[string]string{"error": e.code, "error_description": e.descr}
}

// phpObject is m as PHP encodes an associative array: [] when empty.
func phpObject(m map[string]any) any {
	if len(m) == 0 {
		return []any{}
	}
	return m
}

func asJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// lookup resolves $result[key][a][b] against earlier results: "" when
// absent, as Bitrix24 leaves the parameter empty.
func lookup(results map[string]any, m []string) string {
	v := results[m[1]]
	for _, seg := range strings.Split(strings.Trim(m[2], "[]"), "][") {
		if seg == "" {
			continue
		}
		switch t := v.(type) {
		case map[string]any:
			v = t[seg]
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(t) {
				return ""
			}
			v = t[n]
		default:
			return ""
		}
	}
	switch t := v.(type) {
	case nil, map[string]any, []any:
		return ""
	case string:
		return t
	default:
		return fmt.Sprint(t)
	}
}

// QueryLimit is Bitrix24's request-intensity limit: a leaky bucket that
// holds Burst requests and drains Rate a second.
type QueryLimit struct {
	Burst int
	Rate  float64
}

// DefaultQueryLimit is the limit of every plan but Enterprise.
var DefaultQueryLimit = QueryLimit{Burst: 50, Rate: 2}

type bucket struct {
	level float64
	last  time.Time
}

// allow reports whether one more request fits; callers hold h.mu.
func (b *bucket) allow(l QueryLimit, now time.Time) bool {
	if l.Burst <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.level = max(0, b.level-now.Sub(b.last).Seconds()*l.Rate)
	}
	b.last = now
	if b.level+1 > float64(l.Burst) {
		return false
	}
	b.level++
	return true
}
