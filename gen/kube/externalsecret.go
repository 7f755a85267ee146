package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envsync/envsync/model"
)

// ExternalSecret is the external-secrets.io/v1 ExternalSecret, with the
// fields envsync sets. The project's own types
// (github.com/external-secrets/external-secrets/apis) come with
// controller-runtime v0.20, which does not build against the k8s.io v0.37
// modules envsync uses; these few fields are checked instead against the
// project's CRD by a real API server (apiserver_test.go).
type ExternalSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ExternalSecretSpec `json:"spec"`
}

// ExternalSecretSpec: where the data comes from and which Secret it fills.
type ExternalSecretSpec struct {
	SecretStoreRef  StoreRef             `json:"secretStoreRef"`
	RefreshInterval string               `json:"refreshInterval"`
	Target          ExternalSecretTarget `json:"target"`
	Data            []ExternalSecretData `json:"data"`
}

// ExternalSecretTarget is the Secret filled; Owner: the ExternalSecret
// creates it and its deletion removes it.
type ExternalSecretTarget struct {
	Name           string `json:"name"`
	CreationPolicy string `json:"creationPolicy"`
}

// ExternalSecretData is one key of the Secret and where its value is.
type ExternalSecretData struct {
	SecretKey string    `json:"secretKey"`
	RemoteRef RemoteRef `json:"remoteRef"`
}

// RemoteRef is a property of a secret in the store.
type RemoteRef struct {
	Key      string `json:"key"`
	Property string `json:"property"`
}

// ExternalSecretObjects returns env's ExternalSecrets, sorted by name; none when
// the environment does not declare externalSecrets.
func ExternalSecretObjects(e *model.Estate, env string) ([]ExternalSecret, error) {
	v, err := Values(e, env)
	if err != nil {
		return nil, err
	}
	return renderExternalSecrets(v), nil
}

// renderExternalSecrets is the Go rendering; chart/envsync's
// templates/externalsecret.yaml is the Helm one.
func renderExternalSecrets(v *HelmValues) []ExternalSecret {
	x := v.ExternalSecrets
	if x == nil {
		return nil
	}
	var out []ExternalSecret
	for _, s := range x.Secrets {
		out = append(out, ExternalSecret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "external-secrets.io/v1", Kind: "ExternalSecret"},
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: v.Namespace, Labels: commonLabels(v)},
			Spec: ExternalSecretSpec{
				SecretStoreRef:  x.Store,
				RefreshInterval: x.RefreshInterval,
				Target:          ExternalSecretTarget{Name: s.Name, CreationPolicy: "Owner"},
				Data: []ExternalSecretData{
					{SecretKey: "username", RemoteRef: RemoteRef{Key: s.RemoteKey, Property: x.UsernameProperty}},
					{SecretKey: "password", RemoteRef: RemoteRef{Key: s.RemoteKey, Property: x.PasswordProperty}},
				},
			},
		})
	}
	return out
}
