package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
)

// TestVisitCounterOneStoreCallPerFlush: a flush writes every pending
// count with one store call, whatever the number of links (one statement
// on either store), and no visit is lost.
func TestVisitCounterOneStoreCallPerFlush(t *testing.T) {
	for _, links := range []int{1, 200, 20_000} {
		t.Run(fmt.Sprint(links), func(t *testing.T) {
			var mu sync.Mutex
			var calls int
			total := map[string]int64{}
			store := &mock.LinkStore{AddVisitsFn: func(_ context.Context, counts map[string]int64) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				for k, n := range counts {
					total[k] += n
				}
				return nil
			}}
			var flushed int
			v := app.NewVisitCounter(store, nil, func(n int, err error) { flushed += n })
			for i := range links {
				v.Add(fmt.Sprintf("c%05d", i))
				v.Add(fmt.Sprintf("c%05d", i))
			}
			if err := v.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("%d store calls, want 1", calls)
			}
			last := fmt.Sprintf("c%05d", links-1)
			if len(total) != links || total["c00000"] != 2 || total[last] != 2 || flushed != 2*links {
				t.Errorf("written %d links (c00000: %d, %s: %d), %d visits reported; want %d with 2 visits each",
					len(total), total["c00000"], last, total[last], flushed, links)
			}
			// Nothing pending: the next flush writes nothing.
			if err := v.Flush(context.Background()); err != nil || calls != 1 {
				t.Errorf("empty flush: %v, %d store calls", err, calls)
			}
		})
	}
}
