//go:build !unix

package main

// descriptorLimit is unknown here: maxConns uses its default.
func descriptorLimit() int { return 0 }
