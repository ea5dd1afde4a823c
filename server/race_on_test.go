//go:build race

package server

// The race detector makes sync.Pool drop items on purpose, so allocation
// counts are only meaningful without it; .ci/run runs those tests again
// without -race.
const raceEnabled = true
