package release

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/obsshort/shortener/ci/stack"
)

// SetStableFault refuses what it cannot do safely, before touching
// anything: a bad fault, no stable, a release in progress, a stable that
// is not running. (The switch itself runs in TestReplayIncident, on a
// real stack under load.)
func TestSetStableFaultRefuses(t *testing.T) {
	t.Parallel()
	c := stack.DefaultConfig(t.TempDir(), "/repo")
	stable, err := c.NewInstance(stack.TrackStable, "v1", "a", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	canary, err := c.NewInstance(stack.TrackCanary, "v2", "b", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dep     *stack.Deployment
		fault   stack.Fault
		wantErr string
	}{
		{"bad fault", nil, stack.Fault{ErrorRate: 2}, "within 0..1"},
		{"no stable", nil, stack.Fault{ErrorRate: 0.01}, "no stable deployment"},
		{"a release runs", &stack.Deployment{Stable: &stable, Canary: &canary}, stack.Fault{ErrorRate: 0.01}, "canary v2 is deployed"},
		{"stable not running", &stack.Deployment{Stable: &stable}, stack.Fault{}, "stable v1 is not running"},
	}
	for _, tc := range tests {
		if tc.dep != nil {
			if err := c.SaveDeployment(*tc.dep); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		p := &Pipeline{Stack: c, Out: &out, Err: &out}
		err := p.SetStableFault(context.Background(), tc.fault)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
		if d, _ := c.LoadDeployment(); tc.dep != nil && (d.Stable == nil || d.Stable.Fault.Enabled()) {
			t.Errorf("%s: the deployment changed: %+v", tc.name, d)
		}
	}
}
