package testenv

import "testing"

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"yes", true}, {"Yes", true}, {" on ", true},
		{"", false}, {"0", false}, {"false", false}, {"no", false}, {"off", false}, {"maybe", false},
	} {
		if got := truthy(tc.in); got != tc.want {
			t.Errorf("truthy(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
