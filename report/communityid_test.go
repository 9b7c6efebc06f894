package report

import (
	"net/netip"
	"testing"

	"teardown/analyzer"
)

// TestCommunityID checks the vectors of the specification's baseline
// (corelight/community-id-spec, baseline/baseline_deflt.json and
// baseline_seed1.json) for the protocols with ports, and Zeek's test.
func TestCommunityID(t *testing.T) {
	tests := []struct {
		seed  uint16
		proto uint8
		src   string
		dst   string
		want  string
	}{
		{0, 6, "128.232.110.120:34855", "66.35.250.204:80", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{0, 6, "66.35.250.204:80", "128.232.110.120:34855", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{0, 6, "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
		{0, 6, "[2607:f8b0:400c:c03::1a]:25", "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
		{0, 17, "192.168.1.52:54585", "8.8.8.8:53", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{0, 17, "8.8.8.8:53", "192.168.1.52:54585", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{0, 132, "192.168.170.8:7", "192.168.170.56:7", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
		{0, 132, "192.168.170.56:7", "192.168.170.8:7", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
		{1, 6, "128.232.110.120:34855", "66.35.250.204:80", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{1, 6, "66.35.250.204:80", "128.232.110.120:34855", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{1, 6, "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
		{1, 17, "192.168.1.52:54585", "8.8.8.8:53", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
		{1, 132, "192.168.170.56:7", "192.168.170.8:7", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
		// zeek/zeek testing/btest/bifs/community_id_v1.zeek
		{0, 6, "1.2.3.4:1122", "5.6.7.8:3344", "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{0, 17, "1.2.3.4:1122", "5.6.7.8:3344", "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	}
	for _, tt := range tests {
		got := CommunityID(tt.seed, tt.proto, netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst))
		if got != tt.want {
			t.Errorf("CommunityID(%d, %d, %s, %s) = %q, want %q", tt.seed, tt.proto, tt.src, tt.dst, got, tt.want)
		}
	}
	if got := CommunityID(0, 6, netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("[::1]:2")); got != "" {
		t.Errorf("mixed families: %q, want \"\"", got)
	}
}

func TestFlowCommunityID(t *testing.T) {
	f := &analyzer.Flow{Client: ap("128.232.110.120:34855"), Server: ap("66.35.250.204:80")}
	if got, want := flowCommunityID(f), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; got != want {
		t.Errorf("flowCommunityID = %q, want %q", got, want)
	}
}
