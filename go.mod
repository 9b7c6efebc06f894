module teardown

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/spf13/pflag v1.0.10
	golang.org/x/net v0.55.0
	golang.org/x/sys v0.45.0
)
