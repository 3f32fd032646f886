package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	appsv1defaults "k8s.io/kubernetes/pkg/apis/apps/v1"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1beta1 "github.com/openkruise/kruise/apis/apps/v1beta1"
	"github.com/openkruise/kruise/pkg/util/controllerfinder"
	"github.com/openkruise/kruise/pkg/util/fieldindex"
	podmutating "github.com/openkruise/kruise/pkg/webhook/pod/mutating"
)

// defaultNow is the fixed clock of the project's golden tests (tests/golden.rs NOW).
const defaultNow = "2026-11-25T10:00:00Z"

type injectInput struct {
	SidecarSets []json.RawMessage  `json:"sidecarSets"`
	Namespaces  []corev1.Namespace `json:"namespaces"`
	ConfigMaps  []corev1.ConfigMap `json:"configMaps"`
	// Revisions recorded before the sets are created (the history injectionStrategy.revision
	// pins), stored as they are: give them Kruise's namespace.
	ControllerRevisions []appsv1.ControllerRevision `json:"controllerRevisions"`
	Request             json.RawMessage             `json:"request"`
	Now                 string                      `json:"now"`
	// bench only.
	Iterations int `json:"iterations"`
}

type injectOutput struct {
	Allowed   bool              `json:"allowed"`
	Code      int32             `json:"code"`
	Message   string            `json:"message"`
	Patch     any               `json:"patch"`
	Pod       any               `json:"pod"`
	Revisions map[string]string `json:"revisions"`
	NotSent   string            `json:"notSent,omitempty"`
}

// cluster is what Kruise's Pod webhook reads: the admitted SidecarSets, their
// ControllerRevisions, the Namespaces and ConfigMaps.
type cluster struct {
	client    client.Client
	handler   *podmutating.PodCreateHandler
	revisions map[string]string
	refused   *refusal
}

// newCluster admits every set of in, in order, into a fake client.
//
// Reads go through an interceptor that answers the two hot ones the way kruise-manager's
// informer cache does, rather than the fake client's JSON round trip per object: the
// SidecarSet list by the namespace index (pkg/util/fieldindex IndexSidecarSetV1Beta1; the
// handler asks with DisableDeepCopy, so the cached objects themselves, sorted by name here where
// the informer's order is unspecified) and Namespace gets (a deep copy). Everything else (the
// ControllerRevisions, the kruise-configuration ConfigMap, the other webhooks' lists) is the fake
// client's.
func newCluster(ctx context.Context, in *injectInput) (*cluster, error) {
	var objects []client.Object
	namespaces := map[string]*corev1.Namespace{}
	for i := range in.Namespaces {
		ns := &in.Namespaces[i]
		namespaces[ns.Name] = ns
		objects = append(objects, ns)
	}
	for i := range in.ConfigMaps {
		objects = append(objects, &in.ConfigMaps[i])
	}
	for i := range in.ControllerRevisions {
		objects = append(objects, &in.ControllerRevisions[i])
	}
	base := fake.NewClientBuilder().
		WithScheme(scheme).
		WithObjects(objects...).
		WithIndex(&appsv1beta1.SidecarSet{}, fieldindex.IndexNameForSidecarSetNamespace, fieldindex.IndexSidecarSetV1Beta1).
		Build()

	byIndex := map[string][]appsv1beta1.SidecarSet{}
	c := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if ns, ok := obj.(*corev1.Namespace); ok && key.Namespace == "" {
				if found, ok := namespaces[key.Name]; ok {
					found.DeepCopyInto(ns)
					return nil
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if sets, ok := list.(*appsv1beta1.SidecarSetList); ok {
				var o client.ListOptions
				o.ApplyOptions(opts)
				if o.FieldSelector != nil && o.LabelSelector == nil && o.Namespace == "" {
					if value, found := o.FieldSelector.RequiresExactMatch(fieldindex.IndexNameForSidecarSetNamespace); found {
						sets.Items = byIndex[value]
						return nil
					}
				}
			}
			return c.List(ctx, list, opts...)
		},
	})

	// kruise-manager's main sets this with InitControllerFinder; the Pod webhook's
	// PodUnavailableBudget step reads it. Without a REST mapper the finder skips the scale
	// subresource lookup (as in Kruise's own webhook tests), which only a PodUnavailableBudget
	// on a custom workload would need.
	controllerfinder.Finder = &controllerfinder.ControllerFinder{Client: c}

	cl := &cluster{
		client:    c,
		handler:   &podmutating.PodCreateHandler{Client: c, Decoder: admission.NewDecoder(scheme)},
		revisions: map[string]string{},
	}
	for _, raw := range in.SidecarSets {
		set, refused, err := admitSidecarSet(ctx, c, raw)
		if err != nil {
			return nil, err
		}
		if refused != nil {
			cl.refused = refused
			return cl, nil
		}
		cl.revisions[set.Name] = set.Status.LatestRevision
		for _, value := range fieldindex.IndexSidecarSetV1Beta1(set) {
			byIndex[value] = append(byIndex[value], *set)
			sort.SliceStable(byIndex[value], func(i, j int) bool {
				return byIndex[value][i].Name < byIndex[value][j].Name
			})
		}
	}
	return cl, nil
}

// notSent says why the API server would not call Kruise's Pod webhook for req, or "". The
// webhook's registration: rules CREATE of v1 pods (pkg/webhook/pod/mutating/webhooks.go, the
// kubebuilder marker), namespaceSelector control-plane DoesNotExist
// (config/webhook/patch_manifests.yaml).
func notSent(req *admissionv1.AdmissionRequest, namespaces []corev1.Namespace) string {
	r := req.Resource
	if r.Group != "" || r.Version != "v1" || r.Resource != "pods" || req.SubResource != "" {
		return fmt.Sprintf("resource %s/%s %s%s is not in the webhook's rules (v1 pods)", r.Group, r.Version, r.Resource, strings.TrimPrefix("/"+req.SubResource, "/"))
	}
	if req.Operation != admissionv1.Create {
		return fmt.Sprintf("operation %s is not in the webhook's rules (CREATE)", req.Operation)
	}
	for _, ns := range namespaces {
		if ns.Name == req.Namespace {
			if _, ok := ns.Labels["control-plane"]; ok {
				return fmt.Sprintf("namespace %s has the label control-plane", ns.Name)
			}
		}
	}
	return ""
}

func decodeInjectInput(raw json.RawMessage, bench bool) (*injectInput, *admissionv1.AdmissionRequest, error) {
	in := &injectInput{}
	if err := strictUnmarshal(raw, in); err != nil {
		return nil, nil, err
	}
	if bench != (in.Iterations > 0) {
		if bench {
			return nil, nil, fmt.Errorf("bench: the input needs \"iterations\" > 0")
		}
		return nil, nil, fmt.Errorf("inject: \"iterations\" is bench's key")
	}
	if len(in.Request) == 0 {
		return nil, nil, fmt.Errorf("the input has no \"request\" (an AdmissionRequest)")
	}
	req := &admissionv1.AdmissionRequest{}
	if err := json.Unmarshal(in.Request, req); err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	if in.Now == "" {
		in.Now = defaultNow
	}
	return in, req, nil
}

func runInject(raw json.RawMessage) (any, error) {
	ctx := context.Background()
	in, req, err := decodeInjectInput(raw, false)
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, in)
	if err != nil {
		return nil, err
	}
	if cl.refused != nil {
		return cl.refused, nil
	}
	if why := notSent(req, in.Namespaces); why != "" {
		return injectOutput{Allowed: true, Code: 200, Patch: []any{}, Pod: rawObject(req.Object.Raw), Revisions: cl.revisions, NotSent: why}, nil
	}

	decodedPod := &corev1.Pod{}
	if err := cl.handler.Decoder.Decode(admission.Request{AdmissionRequest: *req}, decodedPod); err != nil {
		return nil, fmt.Errorf("request.object is not a Pod: %w", err)
	}

	from := time.Now().UTC().Format(time.RFC3339)
	resp := cl.handler.Handle(ctx, admission.Request{AdmissionRequest: *req})
	to := time.Now().UTC().Format(time.RFC3339)

	out := injectOutput{Allowed: resp.Allowed, Code: 200, Revisions: cl.revisions}
	if resp.Result != nil {
		out.Message = resp.Result.Message
		if resp.Result.Code != 0 {
			out.Code = resp.Result.Code
		}
	}
	patches := []any{}
	if len(resp.Patches) > 0 {
		b, err := json.Marshal(resp.Patches)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &patches); err != nil {
			return nil, err
		}
	}
	out.Patch = normaliseTimestamps(patches, from, to, in.Now)
	if resp.Allowed {
		// Kruise's patch is the difference between two encodings of its typed Pod
		// (pod_create_update_handler.go Handle), so it applies to the Pod in the form the API
		// server sends (the same encoding), not necessarily to a hand-written object.
		pod, err := json.Marshal(decodedPod)
		if err != nil {
			return nil, err
		}
		if len(resp.Patches) > 0 {
			if pod, err = applyPatches(pod, resp.Patches); err != nil {
				return nil, fmt.Errorf("applying Kruise's patch to the request's object: %w", err)
			}
		}
		out.Pod = normaliseTimestamps(rawObject(pod), from, to, in.Now)
	}
	return out, nil
}

func rawObject(raw []byte) any {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v
}

// normaliseTimestamps sets every hash entry's updateTimestamp written during the call (inside
// [from, to], RFC 3339 in whole seconds as metav1.Time is written) to now; recorded ones from the
// input are outside the window and stay.
func normaliseTimestamps(v any, from, to, now string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, item := range t {
			t[k] = normaliseTimestamps(item, from, to, now)
		}
		return t
	case []any:
		for i, item := range t {
			t[i] = normaliseTimestamps(item, from, to, now)
		}
		return t
	case string:
		const key = `"updateTimestamp":"`
		var out strings.Builder
		rest := t
		for {
			at := strings.Index(rest, key)
			if at < 0 {
				break
			}
			out.WriteString(rest[:at+len(key)])
			rest = rest[at+len(key):]
			if end := strings.IndexByte(rest, '"'); end >= 0 && rest[:end] >= from && rest[:end] <= to {
				out.WriteString(now)
				rest = rest[end:]
			}
		}
		out.WriteString(rest)
		return out.String()
	default:
		return v
	}
}

type benchOutput struct {
	NsPerOp    float64 `json:"nsPerOp"`
	Iterations int     `json:"iterations"`
}

// runBench times PodCreateHandler.Handle alone: the sets are admitted and the request decoded
// once, before the clock starts.
func runBench(raw json.RawMessage) (any, error) {
	ctx := context.Background()
	in, req, err := decodeInjectInput(raw, true)
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, in)
	if err != nil {
		return nil, err
	}
	if cl.refused != nil {
		return cl.refused, nil
	}
	if why := notSent(req, in.Namespaces); why != "" {
		return nil, fmt.Errorf("bench: Kruise's Pod webhook would not be called: %s", why)
	}
	request := admission.Request{AdmissionRequest: *req}
	for i := 0; i < in.Iterations/10+1; i++ {
		if resp := cl.handler.Handle(ctx, request); !resp.Allowed {
			return nil, fmt.Errorf("bench: Kruise refuses the Pod: %s", resultMessage(resp))
		}
	}
	start := time.Now()
	for i := 0; i < in.Iterations; i++ {
		cl.handler.Handle(ctx, request)
	}
	elapsed := time.Since(start)
	return benchOutput{NsPerOp: float64(elapsed.Nanoseconds()) / float64(in.Iterations), Iterations: in.Iterations}, nil
}

type storedInput struct {
	Object json.RawMessage `json:"object"`
}

// storedScheme is client-go's types with the API server's defaulting functions for core/v1 and
// apps/v1 (k8s.io/kubernetes/pkg/apis/{core,apps}/v1 RegisterDefaults).
var storedScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(corev1defaults.RegisterDefaults(s))
	utilruntime.Must(appsv1defaults.RegisterDefaults(s))
	return s
}()

// storedCodecs decode as the API server's JSON serializer does (case-sensitive keys, unknown
// keys dropped), without defaulting: the defaults are applied next, explicitly.
var storedCodecs = serializer.NewCodecFactory(storedScheme)

// stored is obj (JSON) as the API server holds it: decoded into its Go type (fields the type does
// not know are gone), defaulted, encoded again (empty structs such as `resources: {}` written,
// `metadata.creationTimestamp: null`). It is what a webhook receives as a request's object, and
// what the API server stores from the object a mutating webhook's patch produced (k8s.io/apiserver
// pkg/admission/plugin/webhook/mutating dispatcher: decode, then the scheme's defaulting).
func stored(obj []byte) ([]byte, error) {
	decoded, gvk, err := storedCodecs.UniversalDeserializer().Decode(obj, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	storedScheme.Default(decoded)
	decoded.GetObjectKind().SetGroupVersionKind(*gvk)
	return json.Marshal(decoded)
}

func runStored(raw json.RawMessage) (any, error) {
	var in storedInput
	if err := strictUnmarshal(raw, &in); err != nil {
		return nil, err
	}
	if len(in.Object) == 0 {
		return nil, fmt.Errorf("stored: the input has no \"object\"")
	}
	out, err := stored(in.Object)
	if err != nil {
		return nil, fmt.Errorf("stored: %w", err)
	}
	return map[string]any{"object": rawObject(out)}, nil
}
