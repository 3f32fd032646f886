// Command kruise-harness runs OpenKruise v1.9.1's own admission code in-process, on the inputs of
// this project's golden cases, so that the policy can be compared with Kruise's real behaviour
// (tests/kruise_parity.rs) rather than with a reading of it.
//
// Build (cached by a hash of the sources, prints the binary's path; needs Go and the module proxy):
//
//	hack/kruise-harness/build.sh
//
// For example, the ControllerRevision Kruise's controller makes of a set:
//
//	"$(hack/kruise-harness/build.sh)" revision <<<'{"sidecarSet": {"metadata": {"name": "filebeat"},
//	  "spec": {"selector": {"matchLabels": {"app": "web"}}, "containers": [{"name": "filebeat",
//	  "image": "docker.elastic.co/beats/filebeat:7.16.2"}]}}, "collisionCount": 0}'
//
// Run: `kruise-harness SUBCOMMAND < input`, JSON in, JSON out. Stdin may hold several JSON values
// one after the other; each gets its own answer, one JSON line on stdout, in order, so that one
// process serves every case of a test run. A value that cannot be processed gets
// {"error": "..."} and the process goes on with the next one.
//
//	inject    {"sidecarSets": [SidecarSet, apps.kruise.io/v1beta1], "namespaces": [Namespace],
//	           "configMaps": [ConfigMap] (optional, e.g. kruise-system/kruise-configuration),
//	           "controllerRevisions": [apps/v1 ControllerRevision] (optional: a history recorded
//	           earlier, e.g. the revisions injectionStrategy.revision pins, stored first and as
//	           given, so put them in kruise-system),
//	           "request": AdmissionRequest, "now": "2026-11-25T10:00:00Z" (optional)}
//	          Each set, in order, goes through the API server's CRD defaults, Kruise's SidecarSet
//	          defaulting webhook and its validating webhook (an admission CREATE); a refusal
//	          answers {"refusedSidecarSet": name, "message": ...}. The admitted sets are stored in a
//	          controller-runtime fake client as Kruise's controller leaves them (status.latestRevision
//	          and the ControllerRevision in Kruise's namespace), with the Namespaces, and the Pod
//	          request goes through Kruise's Pod webhook (PodCreateHandler.Handle), which lists the
//	          sets in name order (kruise-manager's informer gives no order). Answer:
//	          {"allowed", "code", "message", "patch": [JSON patch ops], "pod": the request's object
//	          (its encoding as Kruise's typed Pod, which is what the patch is relative to) with the
//	          patch applied, "revisions": {set: ControllerRevision name}}, or
//	          {"allowed": true, "code": 200, "notSent": why} when the API server would not call
//	          Kruise's Pod webhook at all (its rules: CREATE of v1 pods, outside namespaces labelled
//	          control-plane). Every hash entry's updateTimestamp written during the call is set to
//	          "now", so that outputs can be compared.
//	revision  {"sidecarSet": SidecarSet, "collisionCount": int, "namespace": string (default
//	          kruise-system), "revision": int (default 1)}
//	          The set after CRD defaults and the defaulting webhook, through Kruise's history
//	          control NewRevision: {"name", "labels", "annotations", "data" (the raw Data bytes as
//	          a string), "revision"}.
//	bench     inject's input plus "iterations": PodCreateHandler.Handle timed in a warm loop (after
//	          a warm-up of a tenth of the iterations): {"nsPerOp", "iterations"}.
//	stored    {"object": a Kubernetes object (core/v1, apps/v1, ...)} -> {"object": it as the API
//	          server holds it}: decoded into its Go type, defaulted with the API server's defaulting
//	          functions, encoded again. That is the form a webhook receives as a request's object,
//	          and the form the API server stores after a mutating webhook's patch.
//
// Feature gates are Kruise's defaults (pkg/features/kruise_features.go); none needs changing for
// the Pod or SidecarSet webhooks to run. The Kruise namespace is kruise-system (POD_NAMESPACE
// unset). Kruise's klog lines are dropped unless KRUISE_HARNESS_LOG is set (to a -v level).
//
// Versions: github.com/openkruise/kruise v1.9.1 with its go.mod's replace block (k8s.io/* v0.32.10,
// controller-runtime v0.20.2).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kruise-harness inject|revision|bench|stored < input.json (see the header of hack/kruise-harness/main.go)")
}

func main() {
	if len(os.Args) != 2 {
		usage()
		os.Exit(2)
	}
	var run func(json.RawMessage) (any, error)
	switch os.Args[1] {
	case "inject":
		run = runInject
	case "revision":
		run = runRevision
	case "bench":
		run = runBench
	case "stored":
		run = runStored
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "kruise-harness: unknown subcommand %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	quietKlog()
	if err := serve(os.Stdin, os.Stdout, run); err != nil {
		fmt.Fprintf(os.Stderr, "kruise-harness %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// quietKlog keeps Kruise's klog lines off stderr (they would drown a test's failure message)
// unless KRUISE_HARNESS_LOG is set, e.g. KRUISE_HARNESS_LOG=4 for klog's -v=4.
func quietKlog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if v := os.Getenv("KRUISE_HARNESS_LOG"); v != "" {
		_ = fs.Set("v", v)
		return
	}
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

// serve answers every JSON value of in with one line on out.
func serve(in io.Reader, out io.Writer, run func(json.RawMessage) (any, error)) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for n := 0; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("no input on stdin")
			}
			return w.Flush()
		} else if err != nil {
			return fmt.Errorf("input value %d is not JSON: %w", n+1, err)
		}
		answer, err := run(raw)
		if err != nil {
			answer = map[string]string{"error": err.Error()}
		}
		if err := enc.Encode(answer); err != nil {
			return err
		}
		// One answer per line as soon as it is ready: a caller may write the next input
		// only after reading this answer.
		if err := w.Flush(); err != nil {
			return err
		}
	}
}
