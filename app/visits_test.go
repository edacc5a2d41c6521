package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
)

// TestVisitCounterBatchSize: by default a flush writes at most 64 links per
// store call (SQLite's one writer); with batch size 0 the whole flush is one
// call (PostgreSQL: one statement per flush). No visit is lost either way.
func TestVisitCounterBatchSize(t *testing.T) {
	for _, tt := range []struct {
		name      string
		batch     int // -1: leave the default
		wantCalls int
	}{
		{"default", -1, 4}, // 200 links in 64, 64, 64, 8
		{"whole flush", 0, 1},
		{"explicit 100", 100, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
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
			v := app.NewVisitCounter(store, nil, nil)
			if tt.batch >= 0 {
				v.SetBatchSize(tt.batch)
			}
			for i := range 200 {
				v.Add(fmt.Sprintf("c%03d", i))
				v.Add(fmt.Sprintf("c%03d", i))
			}
			if err := v.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if calls != tt.wantCalls {
				t.Errorf("%d store calls, want %d", calls, tt.wantCalls)
			}
			if len(total) != 200 || total["c000"] != 2 || total["c199"] != 2 {
				t.Errorf("written %d links (c000: %d), want 200 with 2 visits each", len(total), total["c000"])
			}
		})
	}
}
