//go:build tools

// Package apiserverbuild exists only so that `go mod tidy` keeps
// k8s.io/kubernetes (and everything kube-apiserver needs) in go.mod/go.sum.
// The binaries are built from this directory with
//
//	go build k8s.io/kubernetes/cmd/kube-apiserver
//	go build go.etcd.io/etcd/server/v3
//
// see ../build-apiserver.sh.
package apiserverbuild

import (
	// etcd, resolved in kube-apiserver's own module graph (the version its
	// etcd client and integration tests use).
	_ "go.etcd.io/etcd/server/v3"
	// kube-apiserver: what start.sh runs.
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	// kubectl: optional (build-apiserver.sh --kubectl); the scripts never need it.
	_ "k8s.io/kubernetes/cmd/kubectl"
)
