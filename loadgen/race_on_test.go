//go:build race

package loadgen

// raceEnabled: the race detector multiplies memory use (peak RSS tests skip).
const raceEnabled = true
