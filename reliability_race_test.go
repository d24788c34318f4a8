//go:build race

package airnest_test

// raceEnabled shrinks the heaviest reliability tests under the race
// detector, which makes them several times slower; the full sizes run
// without it.
const raceEnabled = true
