//go:build tools

// Package helmbuild exists only so that `go mod tidy` keeps helm in go.mod/go.sum; ../build-tools.sh
// builds helm.sh/helm/v4/cmd/helm from this directory.
package helmbuild

import _ "helm.sh/helm/v4/cmd/helm"
