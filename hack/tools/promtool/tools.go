//go:build tools

// Package promtoolbuild exists only so that `go mod tidy` keeps Prometheus in go.mod/go.sum;
// ../build-tools.sh builds github.com/prometheus/prometheus/cmd/promtool from this directory.
package promtoolbuild

import _ "github.com/prometheus/prometheus/cmd/promtool"
