module github.com/swim-go/swim

go 1.26

require (
	github.com/google/btree v1.1.3 // indirect
	github.com/hashicorp/go-msgpack/v2 v2.1.5 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)
