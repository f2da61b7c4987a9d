package main

// checkSupported refuses flags whose feature has not landed yet, rather
// than accepting them and doing nothing.
func checkSupported(c *config) error {
	switch {
	case c.watch == "hybrid":
		return usagef("-watch %s: not yet supported (auto watches natively for now)", c.watch)
	}
	return nil
}
