//go:build race

package faultvfs

// raceEnabled: see TestConcurrentReaderAndCrash.
const raceEnabled = true
