package connectortest_test

import (
	"testing"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// The suite checks itself against the in-memory Fake.
func TestRun_Fake(t *testing.T) {
	connectortest.Run(t, connectortest.Options{Kinds: connectortest.FakeKinds},
		func(t *testing.T, b *connectortest.Backend) connectors.Connector {
			return connectortest.NewFake(b)
		})
}
