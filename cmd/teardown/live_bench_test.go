//go:build linux

package main

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"teardown/analyzer"
	"teardown/capture"
	"teardown/internal/netlab"
	"teardown/reassembly"
)

// BenchmarkLive drives short connections (connect, 100-byte request,
// 100-byte response, close) from the client namespace of a veth pair
// through a live capture on the server's interface, read by the analyzer
// as teardown -i does. One iteration is one connection. It reports the
// rates the pipeline sustained (frames/s, closes/s), the kernel's drops
// and the CPU time per frame of the whole process (the load generator and
// the server run in it too, so the capture's share is smaller).
func BenchmarkLive(b *testing.B) {
	needLab(b)
	b.Cleanup(netlab.CloseAll)
	lab, err := netlab.NewPair()
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	srv := netip.AddrPortFrom(netlab.ServerV4, 8080)
	ln, err := lab.Listen(netlab.ServerNode, srv, netlab.SockOpts{ReuseAddr: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 100)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf)
				}
			}()
		}
	}()

	var live *capture.Live
	if err := lab.Do(netlab.ServerNode, func() error {
		var err error
		live, err = capture.OpenLive(capture.LiveConfig{Interface: netlab.EndpointIf, Buffer: 32 << 20}, nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer live.Close()
	var closes atomic.Int64
	a := analyzer.New(analyzer.Config{TimeWait: time.Millisecond}, func(f *analyzer.Flow) {
		if f.Class == analyzer.ClassFourWay {
			closes.Add(1)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var seg reassembly.Segment
		for {
			ok, err := live.Next(&seg)
			if err != nil {
				return
			}
			if ok {
				a.Add(&seg)
			} else {
				a.Advance(time.Now().UnixNano())
			}
		}
	}()

	const workers = 8
	var next atomic.Int64
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := lab.Enter(netlab.ClientNode); err != nil {
				b.Error(err)
				return
			}
			buf := make([]byte, 100)
			d := net.Dialer{Timeout: 3 * time.Second, KeepAlive: -1}
			for next.Add(1) <= int64(b.N) {
				c, err := d.Dial("tcp", srv.String())
				if err != nil {
					if errors.Is(err, syscall.EADDRNOTAVAIL) {
						time.Sleep(time.Millisecond)
						continue
					}
					b.Error(err)
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(buf)
				io.ReadFull(c, buf)
				c.Close()
			}
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // let the last frames and TIME_WAITs through
	elapsed := time.Since(start)
	b.StopTimer()
	live.Stop()
	<-done
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	st, _ := live.Stats()
	in := live.Input()
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
		time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(in.Frames)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(closes.Load())/elapsed.Seconds(), "closes/s")
	b.ReportMetric(float64(st.Drops), "drops")
	if in.Frames > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(in.Frames), "cpu-ns/frame")
	}
}
