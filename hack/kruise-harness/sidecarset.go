package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/openkruise/kruise/apis/apps/v1alpha1"
	appsv1beta1 "github.com/openkruise/kruise/apis/apps/v1beta1"
	policyv1alpha1 "github.com/openkruise/kruise/apis/policy/v1alpha1"
	"github.com/openkruise/kruise/pkg/control/sidecarcontrol"
	sidecarsetmutating "github.com/openkruise/kruise/pkg/webhook/sidecarset/mutating"
	sidecarsetvalidating "github.com/openkruise/kruise/pkg/webhook/sidecarset/validating"
	webhookutil "github.com/openkruise/kruise/pkg/webhook/util"
)

// scheme is kruise-manager's (Kruise's main.go, init): client-go's types plus Kruise's. Kruise also
// registers its apps types into client-go's global scheme, which the history control's
// patchCodec (pkg/control/sidecarcontrol/history_control.go) encodes SidecarSets with.
var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(clientgoscheme.Scheme))
	utilruntime.Must(appsv1beta1.AddToScheme(clientgoscheme.Scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
	utilruntime.Must(appsv1beta1.AddToScheme(scheme))
	utilruntime.Must(policyv1alpha1.AddToScheme(scheme))
	// The admission decoder meets these in a request's `options`.
	scheme.AddUnversionedTypes(metav1.SchemeGroupVersion, &metav1.UpdateOptions{}, &metav1.DeleteOptions{}, &metav1.CreateOptions{})
}

// refusal is a SidecarSet one of Kruise's SidecarSet webhooks refused.
type refusal struct {
	RefusedSidecarSet string `json:"refusedSidecarSet"`
	Message           string `json:"message"`
}

// crdDefaults applies the `default:` markers of Kruise's SidecarSet CRD
// (config/crd/bases/apps.kruise.io_sidecarsets.yaml, v1beta1), which the API server applies
// before any webhook sees the object: resourcesPolicy.targetContainersNameRegex ".*",
// imagePullSecrets[].name "", injectionStrategy.revision.policy "Always".
func crdDefaults(set map[string]any) {
	spec, _ := set["spec"].(map[string]any)
	if spec == nil {
		return
	}
	for _, list := range []string{"containers", "initContainers"} {
		items, _ := spec[list].([]any)
		for _, item := range items {
			c, _ := item.(map[string]any)
			if rp, ok := c["resourcesPolicy"].(map[string]any); ok {
				if _, has := rp["targetContainersNameRegex"]; !has {
					rp["targetContainersNameRegex"] = ".*"
				}
			}
		}
	}
	secrets, _ := spec["imagePullSecrets"].([]any)
	for _, item := range secrets {
		if s, ok := item.(map[string]any); ok {
			if _, has := s["name"]; !has {
				s["name"] = ""
			}
		}
	}
	if is, ok := spec["injectionStrategy"].(map[string]any); ok {
		if rev, ok := is["revision"].(map[string]any); ok {
			if _, has := rev["policy"]; !has {
				rev["policy"] = "Always"
			}
		}
	}
}

// sidecarSetRequest is the admission CREATE request the API server sends Kruise's SidecarSet
// webhooks for raw.
func sidecarSetRequest(name string, raw []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "kruise-harness",
		Kind:      metav1.GroupVersionKind{Group: appsv1beta1.GroupVersion.Group, Version: "v1beta1", Kind: "SidecarSet"},
		Resource:  metav1.GroupVersionResource{Group: appsv1beta1.GroupVersion.Group, Version: "v1beta1", Resource: "sidecarsets"},
		Name:      name,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

// applyPatches applies a webhook's JSON patch to raw, as the API server does.
func applyPatches(raw []byte, patches any) ([]byte, error) {
	ops, err := json.Marshal(patches)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return nil, err
	}
	return patch.Apply(raw)
}

// defaultSidecarSet takes a SidecarSet (JSON) through the CRD's defaults and Kruise's defaulting
// webhook (pkg/webhook/sidecarset/mutating, SidecarSetCreateHandler.Handle). It returns the
// stored JSON, or a refusal.
func defaultSidecarSet(ctx context.Context, raw json.RawMessage) ([]byte, string, *refusal, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, "", nil, fmt.Errorf("a SidecarSet must be a JSON object: %w", err)
	}
	switch obj["apiVersion"] {
	case nil:
		obj["apiVersion"] = appsv1beta1.GroupVersion.String()
	case appsv1beta1.GroupVersion.String():
	default:
		return nil, "", nil, fmt.Errorf("SidecarSet apiVersion %v: give the %s form (v1alpha1's namespace becomes namespaceSelector {matchLabels: {kubernetes.io/metadata.name: <ns>}}, as apis/apps/v1alpha1/sidecarset_conversion.go ConvertTo does)", obj["apiVersion"], appsv1beta1.GroupVersion)
	}
	if _, ok := obj["kind"]; !ok {
		obj["kind"] = "SidecarSet"
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, "", nil, fmt.Errorf("SidecarSet without metadata.name")
	}
	crdDefaults(obj)
	stored, err := json.Marshal(obj)
	if err != nil {
		return nil, "", nil, err
	}
	mutating := &sidecarsetmutating.SidecarSetCreateHandler{Decoder: admission.NewDecoder(scheme)}
	resp := mutating.Handle(ctx, sidecarSetRequest(name, stored))
	if !resp.Allowed {
		return nil, name, &refusal{name, resultMessage(resp)}, nil
	}
	if len(resp.Patches) > 0 {
		if stored, err = applyPatches(stored, resp.Patches); err != nil {
			return nil, "", nil, fmt.Errorf("SidecarSet %s: applying the defaulting webhook's patch: %w", name, err)
		}
	}
	return stored, name, nil, nil
}

// admitSidecarSet defaults raw, runs Kruise's validating webhook
// (pkg/webhook/sidecarset/validating, SidecarSetCreateUpdateHandler.Handle) against the sets
// already in c, then stores the set in c as Kruise's controller leaves it in steady state
// (pkg/controller/sidecarset/sidecarset_processor.go registerLatestRevision): its first
// ControllerRevision created in Kruise's namespace and named in status.latestRevision.
func admitSidecarSet(ctx context.Context, c client.Client, raw json.RawMessage) (*appsv1beta1.SidecarSet, *refusal, error) {
	stored, name, refused, err := defaultSidecarSet(ctx, raw)
	if err != nil || refused != nil {
		return nil, refused, err
	}
	validating := &sidecarsetvalidating.SidecarSetCreateUpdateHandler{Client: c, Decoder: admission.NewDecoder(scheme)}
	if resp := validating.Handle(ctx, sidecarSetRequest(name, stored)); !resp.Allowed {
		return nil, &refusal{name, resultMessage(resp)}, nil
	}
	set := &appsv1beta1.SidecarSet{}
	if err := json.Unmarshal(stored, set); err != nil {
		return nil, nil, fmt.Errorf("SidecarSet %s: decoding the defaulted object: %w", name, err)
	}
	set.Generation = 1

	hc := sidecarcontrol.NewHistoryControl(c)
	var collisionCount int32
	revision, err := hc.NewRevision(set, webhookutil.GetNamespace(), 1, &collisionCount)
	if err != nil {
		return nil, nil, fmt.Errorf("SidecarSet %s: NewRevision: %w", name, err)
	}
	revision, err = hc.CreateControllerRevision(set, revision, &collisionCount)
	if err != nil {
		return nil, nil, fmt.Errorf("SidecarSet %s: CreateControllerRevision: %w", name, err)
	}
	set.Status.ObservedGeneration = set.Generation
	set.Status.LatestRevision = revision.Name
	set.Status.CollisionCount = &collisionCount
	if err := c.Create(ctx, set); err != nil {
		return nil, nil, fmt.Errorf("SidecarSet %s: storing it: %w", name, err)
	}
	return set, nil, nil
}

func resultMessage(resp admission.Response) string {
	if resp.Result == nil {
		return ""
	}
	return resp.Result.Message
}

type revisionInput struct {
	SidecarSet     json.RawMessage `json:"sidecarSet"`
	CollisionCount int32           `json:"collisionCount"`
	Namespace      string          `json:"namespace"`
	Revision       *int64          `json:"revision"`
}

type revisionOutput struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Data        string            `json:"data"`
	Revision    int64             `json:"revision"`
}

// runRevision: the ControllerRevision Kruise's history control builds for a defaulted set
// (pkg/control/sidecarcontrol/history_control.go NewRevision).
func runRevision(raw json.RawMessage) (any, error) {
	var in revisionInput
	if err := strictUnmarshal(raw, &in); err != nil {
		return nil, err
	}
	if len(in.SidecarSet) == 0 {
		return nil, fmt.Errorf("revision: the input has no \"sidecarSet\"")
	}
	stored, _, refused, err := defaultSidecarSet(context.Background(), in.SidecarSet)
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return refused, nil
	}
	set := &appsv1beta1.SidecarSet{}
	if err := json.Unmarshal(stored, set); err != nil {
		return nil, err
	}
	namespace := in.Namespace
	if namespace == "" {
		namespace = webhookutil.GetNamespace()
	}
	number := int64(1)
	if in.Revision != nil {
		number = *in.Revision
	}
	collisionCount := in.CollisionCount
	cr, err := sidecarcontrol.NewHistoryControl(nil).NewRevision(set, namespace, number, &collisionCount)
	if err != nil {
		return nil, err
	}
	return revisionOutput{
		Name:        cr.Name,
		Labels:      cr.Labels,
		Annotations: cr.Annotations,
		Data:        string(cr.Data.Raw),
		Revision:    cr.Revision,
	}, nil
}

// strictUnmarshal refuses unknown top-level keys, so that a misspelt input key is not silently
// ignored.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	return nil
}
