module teardown

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
)
