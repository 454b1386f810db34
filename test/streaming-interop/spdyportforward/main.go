// spdyportforward is an independent SPDY/3.1 peer for flintd's port-forward endpoint
// (portforward.k8s.io) built on Go spdystream, like kubectl port-forward.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o spdyportforward ./spdyportforward
//
// Usage: spdyportforward URL PORT MESSAGE
// For request IDs 0 and 1 it opens the error+data stream pair for PORT, sends MESSAGE,
// half-closes, and prints "echo<id>=<bytes read back>" and "error<id>=<error stream text>".
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/moby/spdystream"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyportforward: "+format+"\n", args...)
	os.Exit(100)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: spdyportforward URL PORT MESSAGE")
	}
	u, err := url.Parse(os.Args[1])
	if err != nil {
		fail("bad url: %v", err)
	}
	port, message := os.Args[2], os.Args[3]
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		fail("dial: %v", err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"+
		"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n", u.RequestURI(), u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		fail("upgrade: %v %v", err, resp)
	}
	sc, err := spdystream.NewConnection(conn, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	defer sc.Close()

	for id := 0; id < 2; id++ {
		open := func(kind string) *spdystream.Stream {
			h := http.Header{}
			h.Set("streamType", kind)
			h.Set("port", port)
			h.Set("requestID", strconv.Itoa(id))
			s, err := sc.CreateStream(h, nil, false)
			if err != nil {
				fail("create %s stream: %v", kind, err)
			}
			if err := s.WaitTimeout(10 * time.Second); err != nil {
				fail("%s stream reply: %v", kind, err)
			}
			return s
		}
		errStream := open("error")
		errStream.Close() // the client never writes to the error stream
		dataStream := open("data")
		if _, err := dataStream.Write([]byte(message)); err != nil {
			fail("write: %v", err)
		}
		dataStream.Close()
		echo, err := io.ReadAll(dataStream)
		if err != nil {
			fail("read data: %v", err)
		}
		errText, err := io.ReadAll(errStream)
		if err != nil {
			fail("read error stream: %v", err)
		}
		fmt.Printf("echo%d=%s\nerror%d=%s\n", id, echo, id, errText)
	}
}
