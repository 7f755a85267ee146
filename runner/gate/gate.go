// Package gate proves that a sanitising step worked, on the copy that held
// the raw data (a restore's shadow), after the script and before anything
// goes live: "sanitised" is a fact each run checks, not a script that ran.
//
//   - Drift: every column of the data must be classified; a column added
//     upstream after the script was written is the usual way personal data
//     leaks, and fails the step naming table.column.
//   - Changed: every column classified personal must differ after the script
//     from what was loaded (a fingerprint of its values before and after).
//   - Detectors: text columns are searched for e-mail addresses outside the
//     allowed domains, UK phone numbers and National Insurance numbers;
//     more than the allowed number fails, naming the column and the count,
//     never a value.
//
// The engines give the gate a view of their shadow (DB); the gate holds the
// rules.
package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/envsync/envsync/contract"
)

// Personal and Public are a column's classes.
const (
	Personal = contract.Personal
	Public   = contract.Public
)

// Policy is what a sync declares: its classification, and the detectors'
// allowances (the file the generator writes, contract.Classification).
type Policy = contract.Classification

// DefaultSampleRows is SampleRows when none is declared.
const DefaultSampleRows = 10000

// Load reads a policy file (CLASSIFICATION).
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CLASSIFICATION: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("CLASSIFICATION %s: %w", path, err)
	}
	if len(p.Tables) == 0 {
		return nil, fmt.Errorf("CLASSIFICATION %s classifies no table", path)
	}
	for t, cols := range p.Tables {
		for c, class := range cols {
			if class != Personal && class != Public {
				return nil, fmt.Errorf("CLASSIFICATION %s: %s.%s is %q, want %s or %s", path, t, c, class, Personal, Public)
			}
		}
	}
	return &p, nil
}

// Column is one column of the data, as the engine lists it.
type Column struct {
	Table, Name string
	Text        bool   // holds text the detectors read
	From        string // the engine's quoted reference to the table
}

// DB is the engine's view of the copy being sanitised.
type DB interface {
	// Columns lists every column of every table of the data.
	Columns(ctx context.Context) ([]Column, error)
	// Fingerprint summarises a column's values (row count and an order-free
	// hash), so that two fingerprints differ when any value changed.
	Fingerprint(ctx context.Context, c Column) (string, error)
	// Sample calls f with up to n non-null values of a text column.
	Sample(ctx context.Context, c Column, n int, f func(string)) error
}

// Rows is what both drivers' result sets offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// EachString calls f with the one string value of each row of rows: what
// an engine's Sample hands over.
func EachString(rows Rows, f func(string)) error {
	var v string
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return err
		}
		f(v)
	}
	return rows.Err()
}

// Check is one step's gate: Before runs on the loaded copy, After once the
// script has run, each refusing what it finds.
type Check struct {
	p      *Policy
	before map[Column]string
	// Checked and Findings are what After reported, for the metrics.
	Checked, Findings int
}

// New prepares the gate of one step.
func New(p *Policy) *Check { return &Check{p: p} }

// Before fingerprints the personal columns of the loaded, unsanitised copy,
// after checking that every column is classified (a drift fails before the
// script runs: no need to run it).
func (g *Check) Before(ctx context.Context, db DB) error {
	cols, err := db.Columns(ctx)
	if err != nil {
		return fmt.Errorf("personal-data gate: listing columns: %w", err)
	}
	if err := g.drift(cols); err != nil {
		return err
	}
	g.before = map[Column]string{}
	for _, c := range cols {
		if g.p.Tables[c.Table][c.Name] == Personal {
			fp, err := db.Fingerprint(ctx, c)
			if err != nil {
				return fmt.Errorf("personal-data gate: fingerprinting %s.%s: %w", c.Table, c.Name, err)
			}
			g.before[c] = fp
		}
	}
	return nil
}

// drift refuses columns the classification does not name.
func (g *Check) drift(cols []Column) error {
	var missing []string
	for _, c := range cols {
		if _, ok := g.p.Tables[c.Table][c.Name]; !ok {
			missing = append(missing, c.Table+"."+c.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("personal-data gate: %d column(s) not classified: %s; classify each as %q or %q in the classification of sync %q (%s) before this data may be sanitised",
		len(missing), strings.Join(missing, ", "), Personal, Public, g.p.Sync, g.p.Declared)
}

// After checks the sanitised copy: still no unclassified column, every
// personal column changed, and no detector finding beyond the allowance.
func (g *Check) After(ctx context.Context, db DB) error {
	cols, err := db.Columns(ctx)
	if err != nil {
		return fmt.Errorf("personal-data gate: listing columns: %w", err)
	}
	if err := g.drift(cols); err != nil {
		return err
	}
	var problems []string
	for _, c := range cols {
		if before, ok := g.before[c]; ok {
			after, err := db.Fingerprint(ctx, c)
			if err != nil {
				return fmt.Errorf("personal-data gate: fingerprinting %s.%s: %w", c.Table, c.Name, err)
			}
			g.Checked++
			if after == before && !empty(before) {
				problems = append(problems, fmt.Sprintf("%s.%s is personal but the script left it unchanged", c.Table, c.Name))
			}
		}
	}
	sample := g.p.SampleRows
	if sample <= 0 {
		sample = DefaultSampleRows
	}
	d := newDetectors(g.p.AllowedEmailDomains)
	for _, c := range cols {
		if !c.Text {
			continue
		}
		counts := map[string]int{}
		err := db.Sample(ctx, c, sample, func(v string) {
			for _, name := range d.find(v) {
				counts[name]++
			}
		})
		if err != nil {
			return fmt.Errorf("personal-data gate: reading %s.%s: %w", c.Table, c.Name, err)
		}
		g.Checked++
		for _, name := range slices.Sorted(maps.Keys(counts)) {
			g.Findings += counts[name]
			if counts[name] > g.p.MaxFindings {
				problems = append(problems, fmt.Sprintf("%s.%s holds %d %s", c.Table, c.Name, counts[name], name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("personal-data gate: the sanitised copy of sync %q fails: %s (nothing goes live; fix the script or the classification in %s)",
			g.p.Sync, strings.Join(problems, "; "), g.p.Declared)
	}
	return nil
}

// empty says whether a fingerprint is of a column with no value at all,
// which no script can change.
func empty(fp string) bool { return strings.HasPrefix(fp, "0 ") }

// detectors find personal-looking values.
type detectors struct {
	allowed map[string]bool
}

var (
	emailRE = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@([a-z0-9\-]+(?:\.[a-z0-9\-]+)+)`)
	// UK phone numbers: +44 or 0, then 9 or 10 digits, with spaces or dashes.
	phoneRE = regexp.MustCompile(`(?:\+44\s?|\b0)(?:\d[\s\-]?){9,10}\b`)
	// National Insurance numbers: two letters (not D, F, I, Q, U, V; the
	// second not O), six digits, A to D.
	ninoRE = regexp.MustCompile(`(?i)\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b`)
)

func newDetectors(allowed []string) *detectors {
	d := &detectors{allowed: map[string]bool{"example.com": true, "example.org": true, "example.net": true, "example.invalid": true}}
	for _, a := range allowed {
		d.allowed[strings.ToLower(a)] = true
	}
	return d
}

// find names the kinds of personal data v looks like it holds.
//
// The regular expressions run only where a cheap scan says they may match
// (an @; a run of digits long enough), which most text never does: the
// gate reads every text column, and a restore should not wait on it.
func (d *detectors) find(v string) []string {
	var out []string
	if strings.IndexByte(v, '@') >= 0 {
		for _, m := range emailRE.FindAllStringSubmatch(v, -1) {
			if !d.allowedDomain(strings.ToLower(m[1])) {
				out = append(out, "e-mail addresses")
				break
			}
		}
	}
	phone, nino := false, false
	forDigitRuns(v, func(start, end, digits int) {
		// A window around the run: the regular expressions see what they
		// need (a +44 or letters before, a letter after) and no more.
		window := v[max(0, start-4):min(len(v), end+3)]
		if !phone && digits >= 9 && phoneRE.MatchString(window) {
			phone = true
		}
		if !nino && digits >= 6 && ninoRE.MatchString(window) {
			nino = true
		}
	})
	if phone {
		out = append(out, "UK phone numbers")
	}
	if nino {
		out = append(out, "National Insurance numbers")
	}
	return out
}

// forDigitRuns calls f for each run of digits in v (at most one space or
// dash between two of them, as phone and NI numbers are written) with its
// bounds and its count of digits.
func forDigitRuns(v string, f func(start, end, digits int)) {
	start, last, n := -1, -1, 0
	flush := func() {
		if n > 0 {
			f(start, last+1, n)
		}
		start, last, n = -1, -1, 0
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			if n == 0 {
				start = i
			}
			n++
			last = i
		case (c == ' ' || c == '-') && n > 0 && last == i-1:
			// one separator may follow a digit
		default:
			flush()
		}
	}
	flush()
}

// allowedDomain accepts a domain and its subdomains.
func (d *detectors) allowedDomain(domain string) bool {
	for {
		if d.allowed[domain] {
			return true
		}
		_, rest, ok := strings.Cut(domain, ".")
		if !ok {
			return false
		}
		domain = rest
	}
}

// personalNames are column names that mean personal data, matched against
// the name's words (split at "_", "-" and case changes are not split).
var personalNames = []string{
	"email", "mail", "name", "firstname", "lastname", "surname", "fullname", "forename",
	"phone", "mobile", "telephone", "tel", "fax", "address", "street", "postcode", "zip",
	"nino", "ni", "ip", "token", "password", "secret", "apikey", "dob", "birth", "birthday",
	"passport", "licence", "license", "iban", "account", "sortcode", "uid", "author", "contact",
}

// Draft proposes a classification of db for review: a column is personal
// when its name says so (email, phone, postcode, token, ...) or when a
// sample of its values holds what the detectors find; public otherwise.
// It is a draft: a person reads every line before it is committed.
func Draft(ctx context.Context, db DB, sample int, allowedDomains []string) (map[string]map[string]string, error) {
	cols, err := db.Columns(ctx)
	if err != nil {
		return nil, err
	}
	d := newDetectors(allowedDomains)
	out := map[string]map[string]string{}
	for _, c := range cols {
		class := Public
		if personalName(c.Name) {
			class = Personal
		} else if c.Text {
			err := db.Sample(ctx, c, sample, func(v string) {
				if class == Public && len(d.find(v)) > 0 {
					class = Personal
				}
			})
			if err != nil {
				return nil, fmt.Errorf("reading %s.%s: %w", c.Table, c.Name, err)
			}
		}
		if out[c.Table] == nil {
			out[c.Table] = map[string]string{}
		}
		out[c.Table][c.Name] = class
	}
	return out, nil
}

func personalName(column string) bool {
	words := strings.FieldsFunc(strings.ToLower(column), func(r rune) bool { return r == '_' || r == '-' || r == ' ' })
	joined := strings.Join(words, "")
	for _, p := range personalNames {
		if joined == p || slices.Contains(words, p) || (len(p) > 4 && strings.Contains(joined, p)) {
			return true
		}
	}
	return false
}
