// Package contract holds the rules that the declaration's checks, the
// generator and the runner must agree on, in one place and without
// dependencies: a rule written twice drifts (vet passed an environment
// named "eks-live" whose every restore the runner then refused).
package contract

import (
	"strings"
	"unicode"
)

// IsProduction says whether an environment's name means production, where
// a restore or transform needs an explicit opt-in (allowProductionRestore
// in the declaration, REALLY_RESTORE_ONTO_PRODUCTION for the runner).
//
// Its words are its runs of letters, so that "eu-prd01" has "prd" and
// "delivery" has no "live": a word containing "prod" (production, preprod,
// prod2), or one that is "prd" or "live", means production. It fails
// closed: a name with anything but ASCII letters, digits and separators
// (a full-width or zero-width-joined "prod") cannot be read with certainty
// and counts as production.
func IsProduction(environment string) bool {
	for _, r := range environment {
		if r > unicode.MaxASCII || unicode.IsControl(r) {
			return true
		}
	}
	words := strings.FieldsFunc(strings.ToLower(environment), func(r rune) bool { return r < 'a' || r > 'z' })
	for _, w := range words {
		if strings.Contains(w, "prod") || w == "prd" || w == "live" {
			return true
		}
	}
	return false
}

// DatabaseShortName is a database's name in the names of the containers of
// a sync over several databases ("0-restore-govuk-assets"): without
// "_production", "_" turned into "-", lower case. Two databases of one sync
// must not share it.
func DatabaseShortName(db string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSuffix(db, "_production"), "_", "-"))
}
