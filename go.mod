module github.com/libkeepalive/libkeepalive

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/cilium/ebpf v0.22.0
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.73.1
	golang.org/x/sys v0.50.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.3 // indirect
)
