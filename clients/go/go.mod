module github.com/udsbus/udsbus/clients/go

go 1.19

require github.com/fxamacker/cbor/v2 v2.4.0

require github.com/x448/float16 v0.8.4 // indirect
