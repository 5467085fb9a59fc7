package bitrix24

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// callsPerBatch is MaxBatch: a call takes up to four commands (register,
// finish, attachRecord, note), plus one user.current per batch.
const callsPerBatch = (maxBatch - 1) / 4

// CallRef.Extra keys.
const (
	extraEntityType = "entity_type" // LEAD, CONTACT or COMPANY: the call activity's owner
	extraEntityID   = "entity_id"
	extraActivity   = "activity_id" // the CRM call activity; empty when Bitrix24 bound the call to no record
	extraFinished   = "finished"    // "1" once telephony.externalCall.finish succeeded
	extraRecord     = "record"      // hash of the attached recording's URL
	extraNote       = "note"        // hash of the saved note
)

// meRef refers to the user who linked the account, read by user.current in
// the same batch: the user a call is registered for when nobody answered
// it and it has no responsible user.
const meRef = "$result[me][ID]"

type registerAnswer struct {
	CallID     string     `json:"CALL_ID"`
	EntityType string     `json:"CRM_ENTITY_TYPE"`
	EntityID   flexString `json:"CRM_ENTITY_ID"`
}

type finishAnswer struct {
	ActivityID flexString `json:"CRM_ACTIVITY_ID"`
	EntityType string     `json:"CRM_ENTITY_TYPE"`
	EntityID   flexString `json:"CRM_ENTITY_ID"`
}

// callJob is one call of a LogCalls request.
type callJob struct {
	i                        int
	call                     connectors.CallActivity
	ref                      connectors.CallRef
	err                      error
	user                     string // register's and finish's USER_ID, or meRef
	register, finish, attach bool
	note                     string // the note to save, "" for none
	noteNow                  bool   // its owner is known: it goes in the first batch
	cmds                     []command
}

// LogCall implements connectors.Connector; see the package comment. When
// a call was registered but a later step failed, the returned CallRef is
// set alongside the error: store it, so the retry finishes that call
// instead of registering another.
func (c *Client) LogCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	res, err := c.LogCalls(ctx, []connectors.CallActivity{call})
	if err != nil {
		return connectors.CallRef{}, err
	}
	return res[0].Ref, res[0].Err
}

// MaxBatch implements connectors.BatchCallLogger.
func (c *Client) MaxBatch() int { return callsPerBatch }

// LogCalls implements connectors.BatchCallLogger: every call's commands go
// into one batch with up to MaxBatch calls, and the notes of new calls
// whose record Bitrix24 picked itself into one more. A failed request
// fails the calls it carried; the error is returned only when no request
// succeeded, so written refs are never lost.
func (c *Client) LogCalls(ctx context.Context, calls []connectors.CallActivity) ([]connectors.CallResult, error) {
	jobs := make([]*callJob, len(calls))
	for i, call := range calls {
		jobs[i] = plan(i, call)
	}
	var firstErr error
	wrote := false
	for _, group := range pack(jobs) {
		if err := c.writeCalls(ctx, group); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			for _, j := range group {
				j.err = err
			}
			continue
		}
		wrote = true
	}
	if firstErr != nil && !wrote {
		return nil, fmt.Errorf("bitrix24: log calls: %w", firstErr)
	}
	c.deferredNotes(ctx, jobs)
	out := make([]connectors.CallResult, len(jobs))
	for i, j := range jobs {
		out[i] = connectors.CallResult{Ref: j.ref, Err: j.err}
	}
	return out, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// plan decides what a call needs: a new call is registered and finished, a
// registered one finished, and then the recording and the note are written
// when they changed.
func plan(i int, call connectors.CallActivity) *callJob {
	j := &callJob{i: i, call: call, ref: connectors.CallRef{ID: call.Ref.ID, Extra: maps.Clone(call.Ref.Extra)}}
	if j.ref.Extra == nil {
		j.ref.Extra = map[string]string{}
	}
	fail := func(err error) *callJob {
		j.err = fmt.Errorf("bitrix24: log call %s: %w", call.ExternalCallID, err)
		return j
	}
	j.register = j.ref.ID == ""
	j.finish = j.ref.Extra[extraFinished] != "1"
	if j.finish {
		user := first(call.AnsweredBy, call.Responsible)
		if user == "" {
			j.user = meRef
		} else if id, err := bitrixID(user); err != nil {
			return fail(fmt.Errorf("user: %w", err))
		} else {
			j.user = id
		}
	}
	if j.register && first(call.From, call.To) == "" {
		return fail(fmt.Errorf("no phone number: %w", connectors.ErrInvalid))
	}
	if j.register && call.Entity != nil {
		if _, _, err := entityType(*call.Entity); err != nil {
			return fail(fmt.Errorf("entity: %w", err))
		}
	}
	j.attach = call.RecordingURL != "" && j.ref.Extra[extraRecord] != digest(call.RecordingURL)
	if text := noteText(call); text != "" && j.ref.Extra[extraNote] != digest(text) {
		j.note = text
		typ, _, _ := j.owner()
		j.noteNow = typ != ""
		if !j.finish && j.ref.Extra[extraActivity] == "" {
			j.note = "" // finished without a CRM record: nowhere to put it
		}
	}
	j.cmds = j.commands()
	return j
}

// owner returns the type, id and activity the call's note belongs to, when
// known before finishing: from the ref, or the entity it is registered on.
func (j *callJob) owner() (typ, id, activity string) {
	activity = "$result[f" + strconv.Itoa(j.i) + "][CRM_ACTIVITY_ID]"
	if !j.finish {
		activity = j.ref.Extra[extraActivity]
	}
	if t := j.ref.Extra[extraEntityType]; t != "" {
		return t, j.ref.Extra[extraEntityID], activity
	}
	if j.call.Entity != nil {
		if t, id, err := entityType(*j.call.Entity); err == nil && t != typeDeal {
			return t, id, activity
		}
	}
	return "", "", ""
}

// commands returns the job's commands for the first batch.
func (j *callJob) commands() []command {
	call, n := j.call, strconv.Itoa(j.i)
	callID := j.ref.ID
	var cmds []command
	if j.register {
		callID = "$result[r" + n + "][CALL_ID]"
		p := url.Values{
			"USER_ID": {j.user}, "PHONE_NUMBER": {first(call.From, call.To)}, "TYPE": {"2"},
			"EXTERNAL_CALL_ID": {first(call.ExternalCallID, newExternalID())},
			"CRM_CREATE":       {"0"}, "SHOW": {"0"}, "ADD_TO_CHAT": {"0"},
		}
		if call.Direction == connectors.Outbound {
			p.Set("TYPE", "1")
		}
		if !call.StartedAt.IsZero() {
			p.Set("CALL_START_DATE", call.StartedAt.Format(time.RFC3339))
		}
		if call.Entity != nil {
			if typ, id, _ := entityType(*call.Entity); typ != typeDeal {
				p.Set("CRM_ENTITY_TYPE", typ)
				p.Set("CRM_ENTITY_ID", id)
			}
		}
		cmds = append(cmds, command{key: "r" + n, method: "telephony.externalcall.register", params: p})
	}
	if j.finish {
		status := "304" // missed
		if call.Answered {
			status = "200"
		}
		cmds = append(cmds, command{key: "f" + n, method: "telephony.externalcall.finish", params: url.Values{
			"CALL_ID": {callID}, "USER_ID": {j.user}, "DURATION": {strconv.Itoa(int(call.Duration.Round(time.Second).Seconds()))},
			"STATUS_CODE": {status}, "ADD_TO_CHAT": {"0"},
		}})
	}
	if j.attach {
		cmds = append(cmds, command{key: "a" + n, method: "telephony.externalcall.attachRecord",
			params: url.Values{"CALL_ID": {callID}, "RECORD_URL": {call.RecordingURL}}})
	}
	if j.note != "" && j.noteNow {
		typ, id, activity := j.owner()
		cmds = append(cmds, noteCommand(n, typ, id, activity, j.note))
	}
	return cmds
}

func noteCommand(n, typ, id, activity, text string) command {
	return command{key: "n" + n, method: "crm.timeline.note.save", params: url.Values{
		"ownerTypeId": {ownerTypeIDs[typ]}, "ownerId": {id}, "itemType": {"2"}, "itemId": {activity}, "text": {text},
	}}
}

// pack groups the jobs that need writing into batches of at most maxBatch
// commands, counting one user.current per batch that needs it.
func pack(jobs []*callJob) [][]*callJob {
	var out [][]*callJob
	var cur []*callJob
	n, me := 0, false
	for _, j := range jobs {
		if j.err != nil || len(j.cmds) == 0 {
			continue
		}
		cost := func() int {
			if j.user == meRef && !me {
				return len(j.cmds) + 1
			}
			return len(j.cmds)
		}
		if n+cost() > maxBatch {
			out, cur, n, me = append(out, cur), nil, 0, false
		}
		n += cost()
		cur, me = append(cur, j), me || j.user == meRef
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// writeCalls sends one batch for jobs and reads each job's results.
func (c *Client) writeCalls(ctx context.Context, jobs []*callJob) error {
	var cmds []command
	for _, j := range jobs {
		if j.user == meRef {
			cmds = []command{{key: "me", method: "user.current", params: url.Values{}}}
			break
		}
	}
	for _, j := range jobs {
		cmds = append(cmds, j.cmds...)
	}
	ans, err := c.batch(ctx, cmds)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		j.read(ans)
	}
	return nil
}

// read takes the job's results from the first batch.
func (j *callJob) read(ans *batchAnswer) {
	n, extra := strconv.Itoa(j.i), j.ref.Extra
	fail := func(step string, err error) {
		j.err = errors.Join(j.err, fmt.Errorf("bitrix24: log call %s: %s: %w", j.call.ExternalCallID, step, err))
	}
	if j.register {
		var r registerAnswer
		if err := ans.decode("r"+n, &r); err != nil {
			fail("register", err)
			return
		}
		j.ref.ID = r.CallID
		setEntity(extra, r.EntityType, string(r.EntityID))
	}
	if j.finish {
		var f finishAnswer
		if err := ans.decode("f"+n, &f); err != nil {
			fail("finish", err)
			return
		}
		extra[extraFinished] = "1"
		setEntity(extra, f.EntityType, string(f.EntityID))
		if a := string(f.ActivityID); a != "" && a != "0" {
			extra[extraActivity] = a
		}
	}
	if j.attach {
		if err := ans.decode("a"+n, nil); err != nil {
			fail("attach record", err)
		} else {
			extra[extraRecord] = digest(j.call.RecordingURL)
		}
	}
	if j.note != "" && j.noteNow {
		if err := ans.decode("n"+n, nil); err != nil {
			fail("save note", err)
		} else {
			extra[extraNote] = digest(j.note)
		}
	}
}

func setEntity(extra map[string]string, typ, id string) {
	if typ != "" && id != "" && id != "0" {
		extra[extraEntityType], extra[extraEntityID] = strings.ToUpper(typ), id
	}
}

// deferredNotes saves, in one more batch, the notes of new calls whose
// owner only finish could tell.
func (c *Client) deferredNotes(ctx context.Context, jobs []*callJob) {
	var todo []*callJob
	var cmds []command
	for _, j := range jobs {
		e := j.ref.Extra
		if j.err != nil || j.note == "" || j.noteNow || e[extraActivity] == "" || ownerTypeIDs[e[extraEntityType]] == "" {
			continue
		}
		todo = append(todo, j)
		cmds = append(cmds, noteCommand(strconv.Itoa(j.i), e[extraEntityType], e[extraEntityID], e[extraActivity], j.note))
	}
	if len(cmds) == 0 {
		return
	}
	ans, batchErr := c.batches(ctx, cmds)
	for _, j := range todo {
		err := batchErr
		if err == nil {
			err = ans.decode("n"+strconv.Itoa(j.i), nil)
		}
		if err != nil {
			j.err = fmt.Errorf("bitrix24: log call %s: save note: %w", j.call.ExternalCallID, err)
			continue
		}
		j.ref.Extra[extraNote] = digest(j.note)
	}
}

// noteText is the call's note: category, value and comment, one a line.
func noteText(call connectors.CallActivity) string {
	var lines []string
	if s := strings.TrimSpace(call.Category); s != "" {
		lines = append(lines, "Category: "+s)
	}
	if s := strings.TrimSpace(call.Value); s != "" {
		lines = append(lines, "Value: "+s)
	}
	if s := strings.TrimSpace(call.Comment); s != "" {
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

// digest is a short hash that tells whether a recording or note changed.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// newExternalID makes an EXTERNAL_CALL_ID for a call that has none: without
// a unique one Bitrix24 answers a register with a recent call's CALL_ID.
func newExternalID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "crmsync-" + hex.EncodeToString(b)
}
