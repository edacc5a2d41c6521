package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaultArgsAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		f       Fault
		args    []string
		text    string
		wantErr string
	}{
		{name: "none", f: Fault{}, args: nil, text: "none"},
		{name: "error rate", f: Fault{ErrorRate: 0.3}, args: []string{"--fault-error-rate", "0.3"}, text: "500 on 30% of requests"},
		{name: "one route", f: Fault{ErrorRate: 0.01, Routes: []string{"/{code}"}},
			args: []string{"--fault-error-rate", "0.01", "--fault-routes", "/{code}"}, text: "500 on 1% of requests of /{code}"},
		{name: "latency", f: Fault{Latency: Duration(40 * time.Millisecond)},
			args: []string{"--fault-latency", "40ms"}, text: "+40ms on every request"},
		{name: "rate above 1", f: Fault{ErrorRate: 1.5}, wantErr: "within 0..1"},
		{name: "negative latency", f: Fault{Latency: -1}, wantErr: "must not be negative"},
		{name: "routes alone", f: Fault{Routes: []string{"/"}}, wantErr: "neither is set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.f.Args(); !slices.Equal(got, tc.args) {
				t.Errorf("Args %q, want %q", got, tc.args)
			}
			if got := tc.f.String(); got != tc.text {
				t.Errorf("String %q, want %q", got, tc.text)
			}
		})
	}
}

// An instance's faults are saved in deploy.json where fault_error_rate
// always was (a deployment written before keeps its meaning), and a
// faulty instance carries the fault target label; a healthy one none.
func TestFaultInDeploymentAndDiscovery(t *testing.T) {
	c := DefaultConfig(t.TempDir(), "/repo")
	stable, err := c.NewInstance(TrackStable, "v1", "a", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	canary, err := c.NewInstance(TrackCanary, "v2", "b", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	canary.Fault = Fault{ErrorRate: 0.02, Latency: Duration(time.Second), Routes: []string{"/{code}"}}
	if err := c.SaveDeployment(Deployment{Stable: &stable, Canary: &canary}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(c.StateDir, "deploy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Stable, Canary map[string]any }
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Canary["fault_error_rate"] != 0.02 || raw.Canary["fault_latency"] != "1s" || raw.Stable["fault_error_rate"] != nil {
		t.Errorf("deploy.json:\n%s", b)
	}
	d, err := c.LoadDeployment()
	if err != nil {
		t.Fatal(err)
	}
	if d.Canary.ErrorRate != 0.02 || !slices.Equal(d.Canary.Routes, []string{"/{code}"}) || d.Stable.Fault.Enabled() {
		t.Errorf("loaded %+v %+v", d.Stable, d.Canary)
	}

	for _, inst := range []Instance{stable, canary} {
		if err := c.Register(inst); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(c.TargetsDir(), inst.Track+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var groups []fileSDGroup
		if err := json.Unmarshal(b, &groups); err != nil || len(groups) != 1 {
			t.Fatalf("%s: %v\n%s", inst.Track, err, b)
		}
		got, has := groups[0].Labels[FaultLabel]
		if want := inst.Fault.Enabled(); has != want || (want && got != "on") {
			t.Errorf("%s (fault %s): label %s=%q present %v", inst.Track, inst.Fault, FaultLabel, got, has)
		}
	}
}
