//go:build race

package serve

// raceEnabled: the race detector allocates, so allocation counts are off.
const raceEnabled = true
