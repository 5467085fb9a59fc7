// Package all links every in-tree connector into a binary: import it for
// its side effect, as caddy's modules/standard does.
//
//	import _ "github.com/crmsync/crmsync/connectors/all"
//
// Adding a CRM means a new connectors/<vendor> package and one line here.
package all

import (
	_ "github.com/crmsync/crmsync/connectors/amocrm"    // amoCRM / Kommo
	_ "github.com/crmsync/crmsync/connectors/bitrix24"  // Bitrix24
	_ "github.com/crmsync/crmsync/connectors/hubspot"   // HubSpot
	_ "github.com/crmsync/crmsync/connectors/pipedrive" // Pipedrive
)
