// Command guard-cost runs the guard (deploy/reconciler/validating-admission-policy.yaml) through
// kube-apiserver v1.36.5's own code, for what a cluster test cannot show.
//
// The oldest Kubernetes it runs on: a server compiles a new expression in the CEL environment of
// its compatibility version, the minor before its own (k8s.io/apiserver,
// pkg/cel/environment/base.go, DefaultCompatibilityVersion), so each version is tried.
//
// The type-checking warnings kube-controller-manager would write into the policy's status
// (k8s.io/apiserver, pkg/admission/plugin/policy/validating/typechecking.go, TypeChecker.Check).
//
// The runtime cost of an upgrade and of a condition write for Pods of 1 to 500 sidecars. The API
// server checks a policy's cost only as it evaluates it (1e6 per expression, 1e7 per binding and
// request), never when the policy is created, so a policy over budget would refuse the writes of
// large Pods only.
//
// Usage:
//
//	cd hack/guard-cost && go run . ../../deploy/reconciler/validating-admission-policy.yaml
//
// It exits non-zero when an expression does not compile at 1.35, when the type checker warns, when
// an upgrade or a condition write is refused, or when a cost passes a limit.
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta/testrestmapper"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kubernetes/pkg/generated/openapi"
	"sigs.k8s.io/yaml"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func readPolicy(path string) *admissionregistrationv1.ValidatingAdmissionPolicy {
	raw, err := os.ReadFile(path)
	must(err)
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := dec.Read()
		if err == io.EOF {
			break
		}
		must(err)
		var p admissionregistrationv1.ValidatingAdmissionPolicy
		must(yaml.Unmarshal(doc, &p))
		if p.Kind == "ValidatingAdmissionPolicy" {
			return &p
		}
	}
	must(fmt.Errorf("no ValidatingAdmissionPolicy in %s", path))
	return nil
}

func variables(p *admissionregistrationv1.ValidatingAdmissionPolicy) []plugincel.NamedExpressionAccessor {
	out := []plugincel.NamedExpressionAccessor{}
	for _, v := range p.Spec.Variables {
		out = append(out, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	return out
}

// compileAt compiles every expression as a new expression of a server whose compatibility version is
// `v`, and returns the compile errors.
func compileAt(p *admissionregistrationv1.ValidatingAdmissionPolicy, v *version.Version) []string {
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(v))
	must(err)
	opts := plugincel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}
	var errs []string
	for _, nv := range variables(p) {
		r := c.CompileAndStoreVariable(nv, opts, environment.NewExpressions)
		if r.Error != nil {
			errs = append(errs, fmt.Sprintf("variable %s: %v", nv.GetName(), r.Error))
		}
	}
	for i, val := range p.Spec.Validations {
		r := c.CompileCELExpression(&validating.ValidationCondition{Expression: val.Expression}, opts, environment.NewExpressions)
		if r.Error != nil {
			errs = append(errs, fmt.Sprintf("validations[%d]: %v", i, r.Error))
		}
		if val.MessageExpression != "" {
			r := c.CompileCELExpression(&validating.MessageExpressionCondition{MessageExpression: val.MessageExpression}, plugincel.OptionalVariableDeclarations{HasParams: false}, environment.NewExpressions)
			if r.Error != nil {
				errs = append(errs, fmt.Sprintf("validations[%d].messageExpression: %v", i, r.Error))
			}
		}
	}
	for i, m := range p.Spec.MatchConditions {
		r := c.CompileCELExpression(&validating.ValidationCondition{Expression: m.Expression}, opts, environment.NewExpressions)
		if r.Error != nil {
			errs = append(errs, fmt.Sprintf("matchConditions[%d]: %v", i, r.Error))
		}
	}
	return errs
}

// A Pod with `sidecars` injected sidecars shaped like the Filebeat story's, plus one app container.
func pod(sidecars int, image string) *unstructured.Unstructured {
	containers := []interface{}{}
	for i := 0; i < sidecars; i++ {
		containers = append(containers, map[string]interface{}{
			"name":  fmt.Sprintf("sidecar-%d", i),
			"image": image,
			"args":  []interface{}{"-c", "/etc/filebeat.yml", "-e"},
			"env": []interface{}{
				map[string]interface{}{"name": "POD_NAMESPACE", "valueFrom": map[string]interface{}{"fieldRef": map[string]interface{}{"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
				map[string]interface{}{"name": "IS_INJECTED", "value": "true"},
			},
			"resources":     map[string]interface{}{"limits": map[string]interface{}{"memory": "200Mi"}, "requests": map[string]interface{}{"cpu": "100m", "memory": "100Mi"}},
			"livenessProbe": map[string]interface{}{"exec": map[string]interface{}{"command": []interface{}{"sh", "-c", "filebeat test config -c /etc/filebeat.yml"}}, "initialDelaySeconds": int64(10), "periodSeconds": int64(30), "timeoutSeconds": int64(1), "successThreshold": int64(1), "failureThreshold": int64(3)},
			"volumeMounts": []interface{}{
				map[string]interface{}{"name": "config", "mountPath": "/etc/filebeat.yml", "readOnly": true, "subPath": "filebeat.yml"},
				map[string]interface{}{"name": "log", "mountPath": "/var/log/nginx"},
			},
			"terminationMessagePath":   "/dev/termination-log",
			"terminationMessagePolicy": "File",
			"imagePullPolicy":          "IfNotPresent",
		})
	}
	containers = append(containers, map[string]interface{}{"name": "app", "image": "nginx:1.27", "ports": []interface{}{map[string]interface{}{"containerPort": int64(80), "protocol": "TCP"}}})
	statuses := []interface{}{}
	for _, c := range containers {
		statuses = append(statuses, map[string]interface{}{"name": c.(map[string]interface{})["name"], "image": c.(map[string]interface{})["image"], "imageID": "x@sha256:0", "ready": true, "restartCount": int64(0), "started": true, "state": map[string]interface{}{"running": map[string]interface{}{"startedAt": "2026-01-01T00:00:00Z"}}})
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]interface{}{
			"name": "web-0", "namespace": "ns", "uid": "u", "resourceVersion": "1", "generation": int64(1),
			"labels":      map[string]interface{}{"app": "nginx", "kruise.io/inject-filebeat": "true"},
			"annotations": map[string]interface{}{"kruise.io/sidecarset-hash": strings.Repeat("h", 300), "kruise.io/sidecarset-injected-list": "filebeat"},
		},
		"spec": map[string]interface{}{
			"containers": containers, "nodeName": "node-1", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
			"volumes": []interface{}{map[string]interface{}{"name": "config", "configMap": map[string]interface{}{"name": "filebeat-config"}}, map[string]interface{}{"name": "log", "emptyDir": map[string]interface{}{}}},
		},
		"status": map[string]interface{}{
			"phase":             "Running",
			"conditions":        []interface{}{map[string]interface{}{"type": "Ready", "status": "True"}, map[string]interface{}{"type": "ContainersReady", "status": "True"}},
			"containerStatuses": statuses,
		},
	}}
}

type evaluator struct {
	cond plugincel.ConditionEvaluator
}

func newEvaluator(p *admissionregistrationv1.ValidatingAdmissionPolicy, exprs []string) evaluator {
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	must(err)
	opts := plugincel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}
	c.CompileAndStoreVariables(variables(p), opts, environment.StoredExpressions)
	acc := []plugincel.ExpressionAccessor{}
	for _, e := range exprs {
		acc = append(acc, &validating.ValidationCondition{Expression: e})
	}
	return evaluator{cond: c.CompileCondition(acc, opts, environment.StoredExpressions)}
}

// run evaluates the conditions for one request; returns the cost used and the failing expressions.
func (e evaluator) run(oldObj, newObj *unstructured.Unstructured, sub string) (int64, []string) {
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	attr := admission.NewAttributesRecord(newObj, oldObj, gvk, "ns", "web-0", gvr, sub, admission.Update, &metav1.UpdateOptions{}, false,
		&user.DefaultInfo{Name: "system:serviceaccount:sidecarset-system:sidecarset-reconciler"})
	va := &admission.VersionedAttributes{Attributes: attr, VersionedOldObject: oldObj, VersionedObject: newObj, VersionedKind: gvk}
	req := plugincel.CreateAdmissionRequest(attr, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(gvk))
	res, remaining, err := e.cond.ForInput(context.Background(), va, req, plugincel.OptionalVariableBindings{}, nil, celconfig.RuntimeCELCostBudget)
	must(err)
	var failed []string
	for _, r := range res {
		if r.Error != nil {
			failed = append(failed, fmt.Sprintf("%s: error %v", r.ExpressionAccessor.GetExpression(), r.Error))
		} else if r.EvalResult.Value() != true {
			failed = append(failed, r.ExpressionAccessor.GetExpression())
		}
	}
	return celconfig.RuntimeCELCostBudget - remaining, failed
}

func upgraded(p *unstructured.Unstructured, image string) *unstructured.Unstructured {
	n := p.DeepCopy()
	cs, _, _ := unstructured.NestedSlice(n.Object, "spec", "containers")
	for _, c := range cs {
		m := c.(map[string]interface{})
		if strings.HasPrefix(m["name"].(string), "sidecar-") {
			m["image"] = image
		}
	}
	must(unstructured.SetNestedSlice(n.Object, cs, "spec", "containers"))
	ann := n.GetAnnotations()
	ann["kruise.io/sidecarset-hash"] = strings.Repeat("i", 300)
	ann["kruise.io/sidecarset-inplace-update-state"] = strings.Repeat("s", 100*len(cs))
	ann["example.com/log-config"] = "{}"
	n.SetAnnotations(ann)
	n.SetGeneration(2)
	return n
}

func withCondition(p *unstructured.Unstructured) *unstructured.Unstructured {
	n := p.DeepCopy()
	conds, _, _ := unstructured.NestedSlice(n.Object, "status", "conditions")
	conds = append(conds, map[string]interface{}{"type": "SidecarSetUpgradable", "status": "True", "reason": "AllSidecarsetUpgradable", "message": "{\"filebeat\":true}", "lastTransitionTime": "2026-01-01T00:00:00Z"})
	must(unstructured.SetNestedSlice(n.Object, conds, "status", "conditions"))
	return n
}

// allowKeys writes the patchPodMetadata keys into the guard as the chart does from its values
// (guard.allowedPatchPodMetadataKeys): the upgrades below write example.com/log-config.
func allowKeys(p *admissionregistrationv1.ValidatingAdmissionPolicy, list string) {
	for i, v := range p.Spec.Variables {
		if v.Name == "patchPodMetadataKeys" {
			p.Spec.Variables[i].Expression = list
			return
		}
	}
	must(fmt.Errorf("the guard has no variable patchPodMetadataKeys"))
}

func main() {
	p := readPolicy(os.Args[1])
	allowKeys(p, `["^example\\.com/"]`)

	ok := true
	fail := func(format string, args ...any) {
		fmt.Printf("FAIL: "+format+"\n", args...)
		ok = false
	}

	for minor := 30; minor <= 35; minor++ {
		errs := compileAt(p, version.MajorMinor(1, uint(minor)))
		if len(errs) == 0 {
			fmt.Printf("every expression compiles at compatibility version 1.%d: kube-apiserver 1.%d and newer\n", minor, minor+1)
			break
		}
		first := strings.SplitN(errs[0], "\n", 2)[0]
		if minor == 35 {
			fail("%d expression(s) do not compile at 1.35, first: %s", len(errs), first)
		} else {
			fmt.Printf("compatibility version 1.%d (kube-apiserver 1.%d): %d expression(s) do not compile, first: %s\n", minor, minor+1, len(errs), first)
		}
	}

	tc := &validating.TypeChecker{
		SchemaResolver: resolver.NewDefinitionsSchemaResolver(openapi.GetOpenAPIDefinitions, scheme.Scheme),
		RestMapper:     testrestmapper.TestOnlyStaticRESTMapper(scheme.Scheme),
	}
	warnings := tc.Check(p)
	fmt.Printf("type-checking warnings (status.typeChecking): %d\n", len(warnings))
	for _, w := range warnings {
		fail("%s: %s", w.FieldRef, w.Warning)
	}

	exprs := []string{}
	for _, v := range p.Spec.Validations {
		exprs = append(exprs, v.Expression)
	}
	all := newEvaluator(p, exprs)
	// One expression per variable: the cost of evaluating it, with the variables it uses.
	perVar := map[string]evaluator{}
	for _, v := range p.Spec.Variables {
		perVar[v.Name] = newEvaluator(p, []string{fmt.Sprintf("[variables.%s].size() == 1", v.Name)})
	}
	fmt.Printf("\nruntime cost (limits: %d per expression, %d per binding)\n", celconfig.PerCallLimit, celconfig.RuntimeCELCostBudget)
	fmt.Println("sidecars  upgrade (pods)  condition (pods/status)  costliest variable (pods)")
	for _, n := range []int{1, 10, 50, 100, 250, 500} {
		old := pod(n, "filebeat:7.16.2")
		cost, failed := all.run(old, upgraded(old, "filebeat:7.16.3"), "")
		if len(failed) > 0 {
			fail("%d sidecars: the upgrade refused: %v", n, failed)
		}
		scost, sfailed := all.run(old, withCondition(old), "status")
		if len(sfailed) > 0 {
			fail("%d sidecars: the condition refused: %v", n, sfailed)
		}
		worst, worstName := int64(0), ""
		for name, e := range perVar {
			c, _ := e.run(old, upgraded(old, "filebeat:7.16.3"), "")
			if c > worst {
				worst, worstName = c, name
			}
		}
		fmt.Printf("%8d  %14d  %23d  %d (%s)\n", n, cost, scost, worst, worstName)
		if cost > celconfig.RuntimeCELCostBudget || scost > celconfig.RuntimeCELCostBudget || worst > celconfig.PerCallLimit {
			fail("%d sidecars: over a cost limit", n)
		}
	}
	if !ok {
		os.Exit(1)
	}
}
