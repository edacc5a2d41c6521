package mock_test

import (
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/storetest"
)

func TestMemStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) app.LinkStore { return mock.NewMemStore() })
	t.Run("list targets", func(t *testing.T) {
		storetest.RunTargets(t, func(*testing.T) app.LinkStore { return mock.NewMemStore() })
	})
}
