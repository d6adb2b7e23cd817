module github.com/udsbus/udsbus/examples/go-publisher

go 1.19

require github.com/udsbus/udsbus/clients/go v0.0.0

require (
	github.com/fxamacker/cbor/v2 v2.4.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

// This example builds against the client in this checkout; elsewhere, drop this line and
// go get github.com/udsbus/udsbus/clients/go.
replace github.com/udsbus/udsbus/clients/go => ../../clients/go
