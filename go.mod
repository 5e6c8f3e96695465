module github.com/libkeepalive/libkeepalive

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	golang.org/x/sys v0.50.0
)
