// Package names finds what a user most likely meant by a misspelt name:
// a field of a declaration, an instance, an environment.
package names

import (
	"cmp"
	"slices"
	"strings"
)

// Distance is the Levenshtein distance of a and b, case-insensitive.
func Distance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Nearest lists up to n of candidates, nearest to name first, without
// repeats.
func Nearest(name string, candidates []string, n int) []string {
	c := slices.Clone(candidates)
	slices.SortFunc(c, func(a, b string) int {
		return cmp.Or(cmp.Compare(Distance(a, name), Distance(b, name)), cmp.Compare(a, b))
	})
	c = slices.Compact(c)
	return c[:min(n, len(c))]
}
