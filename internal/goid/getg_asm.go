//go:build amd64 || arm64

// Package goid identifies the running goroutine, for detecting a call that
// would wait for itself.
package goid

// Current returns the address of the running goroutine's descriptor: an
// identity that stays fixed while the goroutine lives, read in a nanosecond.
// The writer compares it only while that goroutine is known to be alive.
func Current() uintptr
