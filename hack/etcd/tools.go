//go:build tools

// Package tools pins the etcd server the local stack builds.
//
// The module root go.etcd.io/etcd/server/v3 is a `main` package, which a blank
// import cannot name, so this imports etcdmain (the library main.go calls) to make
// `go mod tidy` keep the requirement. The binary itself is built with
// `go build go.etcd.io/etcd/server/v3` from this folder (kovirt.localstack.binaries).
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
