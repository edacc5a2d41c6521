package replay

import "testing"

func TestLabel(t *testing.T) {
	line := `release_info{instance="",job="release",outcome="rolled_back",revision="d253ade",version="v2-bad-1"} 1`
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"version", "v2-bad-1", true},
		{"outcome", "rolled_back", true},
		{"job", "release", true},
		{"instance", "", true},
		{"on", "", false}, // a suffix of another label's name is not a match
		{"missing", "", false},
	}
	for _, tt := range tests {
		got, ok := label(line, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("label(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := label("no_labels 1", "x"); ok {
		t.Error("label found on a line without labels")
	}
}

func TestStatDelta(t *testing.T) {
	before := map[string]map[string]string{"b/BACKEND": {"wretr": "3"}}
	after := map[string]map[string]string{"b/BACKEND": {"wretr": "10"}, "b/new": {"wretr": "2"}}
	tests := []struct {
		row  string
		want int
	}{{"b/BACKEND", 7}, {"b/new", 2}, {"b/missing", -1}}
	for _, tt := range tests {
		if got := statDelta(before, after, tt.row, "wretr"); got != tt.want {
			t.Errorf("statDelta(%s) = %d, want %d", tt.row, got, tt.want)
		}
	}
}
