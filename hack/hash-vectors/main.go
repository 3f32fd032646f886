// Command hash-vectors produces crates/core/tests/data/hash_vectors.json: the
// reference encodings and hashes that Kruise computes for a SidecarSet's
// containers, so that the Rust reimplementation (crates/core/src/gojson.rs and
// hash.rs) can be checked byte for byte without Go in CI.
//
// Regenerate (needs the Go toolchain and the Go module proxy):
//
//	cd hack/hash-vectors && GOFLAGS=-mod=mod go run .
//
// Inputs are the cases in cases.json, decoded the way Kubernetes decodes
// objects (case-sensitive keys, unknown keys ignored), so the very same JSON is
// what the Rust test feeds to its encoder.
//
// Versions: k8s.io/api v0.32.x, the version Kruise v1.9 vendors. The Go module
// proxy offers github.com/openkruise/kruise-api only up to v1.8.0, which has
// neither the v1beta1 SidecarSet nor shareVolumeDevicePolicy/resourcesPolicy.
// So sidecarContainer below mirrors Kruise v1.9's apps/v1beta1 SidecarContainer
// (same field order, names and omitempty), and every case that does not use
// the two v1.9-only fields is also encoded through kruise-api v1.8.0's
// v1alpha1.SidecarContainer; the program stops if the two encodings differ.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	kruisev1alpha1 "github.com/openkruise/kruise-api/apps/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	kjson "sigs.k8s.io/json"
)

// sidecarContainer is Kruise v1.9 apps/v1beta1 SidecarContainer.
type sidecarContainer struct {
	corev1.Container `json:",inline"`

	PodInjectPolicy         string             `json:"podInjectPolicy,omitempty"`
	UpgradeStrategy         upgradeStrategy    `json:"upgradeStrategy,omitempty"`
	ShareVolumePolicy       shareVolumePolicy  `json:"shareVolumePolicy,omitempty"`
	ShareVolumeDevicePolicy *shareVolumePolicy `json:"shareVolumeDevicePolicy,omitempty"`
	TransferEnv             []transferEnvVar   `json:"transferEnv,omitempty"`
	ResourcesPolicy         *resourcesPolicy   `json:"resourcesPolicy,omitempty"`
}

type upgradeStrategy struct {
	UpgradeType          string `json:"upgradeType,omitempty"`
	HotUpgradeEmptyImage string `json:"hotUpgradeEmptyImage,omitempty"`
}

type shareVolumePolicy struct {
	Type string `json:"type,omitempty"`
}

type transferEnvVar struct {
	SourceContainerName     string                     `json:"sourceContainerName,omitempty"`
	SourceContainerNameFrom *sourceContainerNameSource `json:"sourceContainerNameFrom,omitempty"`
	EnvName                 string                     `json:"envName,omitempty"`
	EnvNames                []string                   `json:"envNames,omitempty"`
}

type sourceContainerNameSource struct {
	FieldRef *corev1.ObjectFieldSelector `json:"fieldRef,omitempty"`
}

// resourcesPolicy: the CRD makes targetContainersMode and resourcesExpr
// required (no omitempty) and defaults targetContainersNameRegex.
type resourcesPolicy struct {
	TargetContainersMode      string        `json:"targetContainersMode"`
	TargetContainersNameRegex string        `json:"targetContainersNameRegex,omitempty"`
	ResourcesExpr             resourcesExpr `json:"resourcesExpr"`
}

type resourcesExpr struct {
	Limits   *resourceExpr `json:"limits,omitempty"`
	Requests *resourceExpr `json:"requests,omitempty"`
}

type resourceExpr struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

type testCase struct {
	Name           string          `json:"name"`
	Containers     json.RawMessage `json:"containers,omitempty"`
	InitContainers json.RawMessage `json:"initContainers,omitempty"`
}

type vector struct {
	Name                string          `json:"name"`
	Containers          json.RawMessage `json:"containers,omitempty"`
	InitContainers      json.RawMessage `json:"initContainers,omitempty"`
	Encoded             string          `json:"encoded"`
	EncodedWithoutImage string          `json:"encodedWithoutImage"`
	Hash                string          `json:"hash"`
	HashWithoutImage    string          `json:"hashWithoutImage"`
}

// isSidecar is Kruise's sidecarcontrol.IsSidecarContainer.
func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// encode is Kruise's encodeSidecarSet, generic over the container type so the
// v1alpha1 cross-check runs the identical logic.
func encode[T any](containers, initContainers []T, core func(*T) *corev1.Container) string {
	m := map[string]interface{}{"containers": containers}
	native := 0
	for i := range initContainers {
		if isSidecar(*core(&initContainers[i])) {
			native++
		}
	}
	if native > 0 {
		m["initContainers"] = initContainers
	}
	data, err := json.Marshal(m)
	if err != nil {
		fail("marshal: %v", err)
	}
	return string(data)
}

func withoutImage[T any](list []T, core func(*T) *corev1.Container) []T {
	if list == nil {
		return nil
	}
	out := make([]T, len(list))
	copy(out, list)
	for i := range out {
		core(&out[i]).Image = ""
	}
	return out
}

// hash is Kruise's hash() followed by rand.SafeEncodeString.
func hash(encoded string) string {
	return rand.SafeEncodeString(fmt.Sprintf("%x", sha256.Sum256([]byte(encoded))))
}

func decode[T any](raw json.RawMessage, what string) []T {
	if raw == nil {
		return nil
	}
	var out []T
	strict, err := kjson.UnmarshalStrict(raw, &out)
	if err != nil {
		fail("%s: %v", what, err)
	}
	_ = strict // unknown fields are expected in some cases: Kubernetes drops them.
	return out
}

func usesV19Fields(list []sidecarContainer) bool {
	for _, c := range list {
		if c.ShareVolumeDevicePolicy != nil || c.ResourcesPolicy != nil {
			return true
		}
	}
	return false
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "hash-vectors: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	raw, err := os.ReadFile("cases.json")
	if err != nil {
		fail("%v", err)
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		fail("cases.json: %v", err)
	}

	beta := func(c *sidecarContainer) *corev1.Container { return &c.Container }
	alpha := func(c *kruisev1alpha1.SidecarContainer) *corev1.Container { return &c.Container }

	seen := map[string]bool{}
	out := make([]vector, 0, len(cases))
	crossChecked := 0
	for _, tc := range cases {
		if seen[tc.Name] {
			fail("duplicate case name %q", tc.Name)
		}
		seen[tc.Name] = true

		cs := decode[sidecarContainer](tc.Containers, tc.Name+".containers")
		ics := decode[sidecarContainer](tc.InitContainers, tc.Name+".initContainers")
		enc := encode(cs, ics, beta)
		encNoImage := encode(withoutImage(cs, beta), withoutImage(ics, beta), beta)

		if !usesV19Fields(cs) && !usesV19Fields(ics) {
			acs := decode[kruisev1alpha1.SidecarContainer](tc.Containers, tc.Name+".containers")
			aics := decode[kruisev1alpha1.SidecarContainer](tc.InitContainers, tc.Name+".initContainers")
			if got := encode(acs, aics, alpha); got != enc {
				fail("%s: kruise-api v1alpha1 encodes differently:\n  %s\n  %s", tc.Name, got, enc)
			}
			if got := encode(withoutImage(acs, alpha), withoutImage(aics, alpha), alpha); got != encNoImage {
				fail("%s: kruise-api v1alpha1 encodes differently without image", tc.Name)
			}
			crossChecked++
		}

		out = append(out, vector{
			Name:                tc.Name,
			Containers:          tc.Containers,
			InitContainers:      tc.InitContainers,
			Encoded:             enc,
			EncodedWithoutImage: encNoImage,
			Hash:                hash(enc),
			HashWithoutImage:    hash(encNoImage),
		})
	}

	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	// Keep the inputs readable in the committed file; the parsed strings are the same either way.
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(out); err != nil {
		fail("%v", err)
	}
	dest := filepath.Join("..", "..", "crates", "core", "tests", "data", "hash_vectors.json")
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		fail("%v", err)
	}
	if err := os.WriteFile(dest, buf.Bytes(), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Printf("wrote %d vectors to %s (%d cross-checked against kruise-api v1alpha1)\n", len(out), dest, crossChecked)
}
