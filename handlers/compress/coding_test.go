package compress

import "testing"

func TestQValueIsZeroToOneWithAtMostThreeDecimals_RFC9110_12_4_2(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1", 1000, true}, {"0.5", 500, true}, {"0.25", 250, true},
		{"0.125", 125, true}, {"1.0", 1000, true}, {"1.000", 1000, true}, {"0.", 0, true},
		{"1.001", 0, false}, {"2", 0, false}, {"0.0001", 0, false}, {"", 0, false},
		{".5", 0, false}, {"0,5", 0, false}, {"-1", 0, false}, {"0.a", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseQValue([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseQValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
