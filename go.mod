module github.com/airnest/airnest

go 1.26.0

require (
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/gofrs/uuid/v5 v5.5.1
	github.com/ncruces/go-sqlite3 v0.37.0
)

require (
	github.com/ncruces/go-sqlite3-wasm/v6 v6.5.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/ncruces/wbt v1.0.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
