//go:build !race

package faultvfs

const raceEnabled = false
