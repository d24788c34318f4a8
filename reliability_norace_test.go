//go:build !race

package airnest_test

const raceEnabled = false
