package main

import "testing"

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a`:          "/tmp/a",
		`/tmp/a\040b`:     "/tmp/a b",
		`/tmp/a\134b`:     `/tmp/a\b`,
		`/tmp/a\04`:       `/tmp/a\04`,
		`/tmp/a\0x0`:      `/tmp/a\0x0`,
		`/tmp/\011tab\12`: "/tmp/\ttab\\12",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
