module github.com/swim-go/swim/ring/bench

go 1.26

replace github.com/swim-go/swim => ../..

// github.com/stathat/consistent v1.0.0 has no go.mod and calls itself stathat.com/c/consistent
// (its import comment, and its own example test's import), a vanity path the module proxy does
// not serve. Importing it under that name, served from the GitHub module, lets go mod tidy
// resolve the example test's import to the same code.
replace stathat.com/c/consistent => github.com/stathat/consistent v1.0.0

require (
	github.com/buraksezer/consistent v0.10.0
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/stretchr/testify v1.12.1
	github.com/swim-go/swim v0.0.0
	stathat.com/c/consistent v0.0.0-00010101000000-000000000000
)

require (
	github.com/google/btree v1.1.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
