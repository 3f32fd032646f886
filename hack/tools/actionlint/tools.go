//go:build tools

// Package actionlintbuild exists only so that `go mod tidy` keeps actionlint in go.mod/go.sum;
// ../build-tools.sh builds github.com/rhysd/actionlint/cmd/actionlint from this directory.
package actionlintbuild

import _ "github.com/rhysd/actionlint/cmd/actionlint"
