package contract_test

import (
	"testing"

	"github.com/envsync/envsync/contract"
)

func TestProductionIsReadFromEveryWayOfSpellingIt(t *testing.T) {
	for env, want := range map[string]bool{
		"production": true, "prod": true, "preprod": true, "PRODUCTION": true, "live": true, "eks-live": true,
		"prd": true, "uk_prd_1": true, "prd1": true, "live2": true, "eu-prd01": true, "prod-eu-west-2": true,
		"ｐｒｏｄ": true, "pro\u200dd": true, "pr\u043ed": true, "staging\x00": true,
		"staging": false, "integration": false, "delivery": false, "olive": false, "test": false, "dev2": false,
	} {
		if got := contract.IsProduction(env); got != want {
			t.Errorf("IsProduction(%q) = %v, want %v", env, got, want)
		}
	}
}
