package amocrm_test

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm"
)

func TestClient_ParseWebhook(t *testing.T) {
	c := amocrm.New(connectors.Credentials{BaseURL: "https://acme.amocrm.ru"})
	form := url.Values{
		"account[subdomain]":                                      {"acme"},
		"account[id]":                                             {"31337"},
		"leads[responsible][0][id]":                               {"20001"},
		"leads[responsible][0][responsible_user_id]":              {"10"},
		"leads[responsible][0][old_responsible_user_id]":          {"11"},
		"leads[update][0][id]":                                    {"20002"},
		"leads[update][0][status_id]":                             {"142"},
		"leads[update][0][responsible_user_id]":                   {"12"},
		"leads[delete][0][id]":                                    {"20003"},
		"contacts[update][0][id]":                                 {"10001"},
		"contacts[update][0][type]":                               {"contact"},
		"contacts[update][0][responsible_user_id]":                {"2"},
		"contacts[update][0][custom_fields][0][code]":             {"PHONE"},
		"contacts[update][0][custom_fields][0][values][0][value]": {"+7 916 123-45-67"},
		"contacts[update][0][custom_fields][1][code]":             {"EMAIL"},
		"contacts[update][0][custom_fields][1][values][0][value]": {"a@example.com"},
		"contacts[delete][0][id]":                                 {"55"},
		"contacts[delete][0][type]":                               {"company"},
		"unsorted[add][0][uid]":                                   {"abc"},
		"leads[note][0][note][element_id]":                        {"20001"},
	}
	req := httptest.NewRequest("POST", "/hooks/amocrm/42", strings.NewReader(form.Encode()))
	got, err := c.ParseWebhook(req, []byte(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	want := []connectors.Change{
		{Kind: connectors.KindContact, EntityID: "company:55", Deleted: true},
		{Kind: connectors.KindContact, EntityID: "10001", ResponsibleUserID: "2", Phones: []string{"+7 916 123-45-67"}},
		{Kind: connectors.KindDeal, EntityID: "20003", Deleted: true},
		{Kind: connectors.KindDeal, EntityID: "20001", ResponsibleUserID: "10"},
		{Kind: connectors.KindDeal, EntityID: "20002", ResponsibleUserID: "12"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseWebhook (-want +got):\n%s", diff)
	}

	t.Run("ErrUnauthorized", func(t *testing.T) {
		form.Set("account[subdomain]", "evil")
		_, err := c.ParseWebhook(req, []byte(form.Encode()))
		if !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized for another account", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := c.ParseWebhook(req, []byte("%zz"))
		if !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
