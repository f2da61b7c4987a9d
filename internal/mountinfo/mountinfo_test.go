package mountinfo

import "testing"

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a`:          "/tmp/a",
		`/tmp/a\040b`:     "/tmp/a b",
		`/tmp/a\134b`:     `/tmp/a\b`,
		`/tmp/a\04`:       `/tmp/a\04`,
		`/tmp/a\0x0`:      `/tmp/a\0x0`,
		`/tmp/\011tab\12`: "/tmp/\ttab\\12",
		`\`:               `\`,
		`/x\777`:          `/x\777`, // not a byte
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
