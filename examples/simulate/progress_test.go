package main

import "testing"

// The progress line's event rate keeps its digits from a slow join to a fast steady run;
// it printed "0.00M events/s" for a 10,000-member join's few thousand a second.
func TestRateString(t *testing.T) {
	for r, want := range map[float64]string{0: "0", 850: "850", 4321: "4.3k", 2_500_000: "2.50M"} {
		if got := rateString(r); got != want {
			t.Errorf("rateString(%v) = %q, want %q", r, got, want)
		}
	}
}
