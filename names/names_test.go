package names

import (
	"slices"
	"testing"
)

func TestNearest(t *testing.T) {
	if d := Distance("databse", "database"); d != 1 {
		t.Errorf("Distance = %d, want 1", d)
	}
	if got := Nearest("chat-postgresql", []string{"whitehall-mysql", "chat-postgres", "ckan-postgres", "chat-postgres"}, 2); !slices.Equal(got, []string{"chat-postgres", "ckan-postgres"}) {
		t.Errorf("Nearest = %v", got)
	}
}
