package gate

import (
	"slices"
	"testing"
)

// The detectors find what looks personal, and only that: the script's
// own pseudonyms in allowed domains, and numbers that are not phone or NI
// numbers, pass.
func TestDetectorsFindPersonalLookingValues(t *testing.T) {
	d := newDetectors([]string{"pseudo.gov.uk"})
	for v, want := range map[string][]string{
		"jane.doe@gmail.com":                     {"e-mail addresses"},
		"write to Jane <JANE@Example.co.uk> now": {"e-mail addresses"},
		"user-1@example.com":                     nil,
		"user-1@mail.example.org":                nil,
		"x@pseudo.gov.uk":                        nil,
		"call 07700 900123":                      {"UK phone numbers"},
		"+44 20 7946 0958":                       {"UK phone numbers"},
		"NI: QQ 12 34 56 C":                      nil, // Q is never a first letter
		"NI: AB123456C":                          {"National Insurance numbers"},
		"order 12345, total 99.99":               nil,
		"Redacted question 5d41402abc4b2a76":     nil,
	} {
		if got := d.find(v); !slices.Equal(got, want) {
			t.Errorf("find(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestPersonalLookingColumnNames(t *testing.T) {
	for name, want := range map[string]bool{
		"email": true, "contact_email": true, "EmailAddress": true, "first_name": true, "postcode": true,
		"phone_number": true, "api_token": true, "password_digest": true, "ip_address": true, "date_of_birth": true,
		"id": false, "created_at": false, "title": false, "state": false, "total_pence": false, "filename": false,
	} {
		if got := personalName(name); got != want {
			t.Errorf("personalName(%q) = %v, want %v", name, got, want)
		}
	}
}
