package bitrix24test_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

type fake struct {
	*bitrix24test.Server
	token string
}

func mustFake(t *testing.T) fake {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	srv := bitrix24test.NewServer(b)
	t.Cleanup(srv.Close)
	return fake{srv, srv.IssueToken(time.Now().Add(time.Hour)).AccessToken}
}

// post sends body to method and returns the status and decoded answer.
func (f fake) post(t *testing.T, method, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := f.Client().Post(f.BaseURL()+method, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: decode: %v", method, err)
	}
	return resp.StatusCode, out
}

func (f fake) form(t *testing.T, method string, v url.Values) (int, map[string]any) {
	t.Helper()
	v.Set("auth", f.token)
	return f.post(t, method, "application/x-www-form-urlencoded", v.Encode())
}

func TestHandler_Register(t *testing.T) {
	f := mustFake(t)
	register := func(ext string) string {
		t.Helper()
		v := url.Values{"USER_ID": {"2"}, "PHONE_NUMBER": {connectortest.Phone}, "TYPE": {"2"}}
		if ext != "" {
			v.Set("EXTERNAL_CALL_ID", ext)
		}
		status, ans := f.form(t, "telephony.externalCall.register", v)
		if status != http.StatusOK {
			t.Fatalf("register: %d %v", status, ans)
		}
		return ans["result"].(map[string]any)["CALL_ID"].(string)
	}
	a, b := register(""), register("")
	if a != b {
		t.Errorf("two registers without EXTERNAL_CALL_ID: %s and %s, want Bitrix24's reused CALL_ID", a, b)
	}
	if c, d := register("pbx-1"), register("pbx-2"); c == d || c == a {
		t.Errorf("unique EXTERNAL_CALL_IDs got CALL_IDs %s and %s", c, d)
	}
	if status, _ := f.form(t, "telephony.externalcall.finish", url.Values{"CALL_ID": {a}, "USER_ID": {"2"}}); status != http.StatusOK {
		t.Fatalf("finish: %d", status)
	}
	if status, ans := f.form(t, "telephony.externalcall.finish", url.Values{"CALL_ID": {a}, "USER_ID": {"2"}}); status != http.StatusBadRequest {
		t.Errorf("second finish: %d %v, want 400 Call is not found", status, ans)
	}
	if register("") == a {
		t.Error("after finish, register reused the finished CALL_ID")
	}
}

func TestHandler_Batch(t *testing.T) {
	f := mustFake(t)
	t.Run("References", func(t *testing.T) { // JSON body; commands run in the order sent
		body := `{"auth":"` + f.token + `","halt":0,"cmd":{
			"z_me":"user.current",
			"a_user":"user.get?FILTER[ID]=$result[z_me][ID]",
			"m_missing":"crm.lead.get?id=1",
			"b_nested":"batch?cmd[x]=user.current"}}`
		status, ans := f.post(t, "batch.json", "application/json", body)
		if status != http.StatusOK {
			t.Fatalf("batch: %d %v", status, ans)
		}
		res := ans["result"].(map[string]any)
		users := res["result"].(map[string]any)["a_user"].([]any)
		if len(users) != 1 || users[0].(map[string]any)["ID"] != "1" {
			t.Errorf("a_user = %v, want user 1 through the reference", users)
		}
		errs := res["result_error"].(map[string]any)
		got := map[string]string{}
		for k, v := range errs {
			got[k] = v.(map[string]any)["error_description"].(string)
		}
		want := map[string]string{"m_missing": "Not found", "b_nested": "Method is not allowed for batch usage"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result_error (-want +got):\n%s", diff)
		}
		if total := res["result_total"].(map[string]any)["a_user"]; total != float64(1) {
			t.Errorf("result_total = %v", res["result_total"])
		}
	})
	t.Run("Empty", func(t *testing.T) { // PHP writes empty objects as []
		_, ans := f.form(t, "crm.duplicate.findbycomm", url.Values{"type": {"PHONE"}, "values[]": {"+10000000000"}})
		if diff := cmp.Diff([]any{}, ans["result"]); diff != "" {
			t.Errorf("findbycomm of an unknown number (-want +got):\n%s", diff)
		}
	})
}

func TestHandler_Auth(t *testing.T) {
	f := mustFake(t)
	req, _ := http.NewRequest("POST", f.BaseURL()+"user.current", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || f.HeaderAuth() != 1 {
		t.Errorf("header token: %s, HeaderAuth %d; want 401 (Bitrix24 reads auth= only) and 1", resp.Status, f.HeaderAuth())
	}
	if status, ans := f.form(t, "USER.CURRENT.json", url.Values{}); status != http.StatusOK {
		t.Errorf("auth parameter, .json suffix, upper-case method: %d %v", status, ans)
	}
	expired := f.IssueToken(time.Now().Add(-time.Second)).AccessToken
	status, ans := f.post(t, "user.current", "application/x-www-form-urlencoded", "auth="+expired)
	if status != http.StatusUnauthorized || ans["error"] != "expired_token" {
		t.Errorf("expired token: %d %v", status, ans)
	}
}
