package swim

import "testing"

// skipLarge skips the 1,000-member simulations under -short and under the race detector
// (which makes them ten times slower); CI runs them in a separate pass without -race.
func skipLarge(t *testing.T) {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("large simulation: runs without -race and -short (see .ci/run)")
	}
}
