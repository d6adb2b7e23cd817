module udsbus.local/client

go 1.19

require github.com/fxamacker/cbor/v2 v2.4.0

require github.com/x448/float16 v0.8.4 // indirect

// Debian's golang-github-fxamacker-cbor-dev; builds offline with GOPROXY=off.
replace github.com/fxamacker/cbor/v2 => /usr/share/gocode/src/github.com/fxamacker/cbor

replace github.com/x448/float16 => /usr/share/gocode/src/github.com/x448/float16
