module github.com/libkeepalive/libkeepalive

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/cilium/ebpf v0.22.0
	golang.org/x/sys v0.50.0
)
