module github.com/swim-go/swim/memberlist

go 1.26

require (
	github.com/google/btree v1.1.3
	github.com/hashicorp/go-metrics v0.7.0
	github.com/stretchr/testify v1.12.1
	github.com/swim-go/swim v0.0.0
)

require (
	github.com/hashicorp/go-immutable-radix v1.3.1 // indirect
	github.com/hashicorp/golang-lru v0.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/swim-go/swim => ../
