package all_test

import (
	"slices"
	"testing"

	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/all"
)

func TestAll(t *testing.T) {
	for _, name := range []string{"amocrm", "bitrix24", "hubspot", "pipedrive"} {
		if !slices.Contains(connectors.Names(), name) {
			t.Errorf("%s is not registered; Names() = %v", name, connectors.Names())
		}
		info, _ := connectors.Lookup(name)
		if info.DisplayName == "" || len(info.Kinds) == 0 || len(info.Limits) == 0 || info.Endpoint == nil {
			t.Errorf("%s: incomplete Info %+v", name, info)
		}
	}
}
