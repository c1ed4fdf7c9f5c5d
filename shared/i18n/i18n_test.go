package i18n

import "testing"

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, query, cookie, accept, want string
	}{
		{"nothing", "", "", "", "en"},
		{"browser Spanish", "", "", "es-ES,es;q=0.9,en;q=0.8", "es"},
		{"browser prefers English", "", "", "en-GB,en;q=0.9,es;q=0.5", "en"},
		{"q decides, not order", "", "", "fr;q=0.9,es;q=0.8,en;q=0.1", "es"},
		{"unsupported only", "", "", "fr-FR,de", "en"},
		{"cookie beats browser", "", "en", "es", "en"},
		{"switch beats cookie", "es", "en", "en", "es"},
		{"unknown switch ignored", "fr", "es", "en", "es"},
		{"garbage header", "", "", ";;,q=,es;q=abc", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Negotiate(tt.query, tt.cookie, tt.accept); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	c := Catalog{
		"total.n": {English: "%d votes", Spanish: "%d votos"},
		"only.en": {English: "Hello"},
	}
	if got := c.T(Spanish, "total.n", 3); got != "3 votos" {
		t.Errorf("got %q, want 3 votos", got)
	}
	if got := c.T(Spanish, "only.en"); got != "Hello" {
		t.Errorf("missing Spanish: got %q, want the English fallback", got)
	}
	if got := c.T(English, "nope"); got != "nope" {
		t.Errorf("unknown key: got %q, want the key", got)
	}
	if m := c.Missing(); len(m) != 1 || m[0] != "only.en (es)" {
		t.Errorf("Missing() = %v, want [only.en (es)]", m)
	}
}
