// spdyexec is an independent SPDY/3.1 peer for flintd's streaming server: it runs one
// remotecommand (v4.channel.k8s.io) exec session using the Go spdystream library (the library
// kubelet/client-go use) and reports what it received.
//
// Build offline with Debian's packages:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o spdyexec ./spdyexec
//
// Usage: spdyexec [-stdin TEXT] [-stderr] [-hash] URL
// Prints stdout (or "bytes=N sha256=HEX" with -hash), then "status=<error stream JSON>" on the
// last line, and exits with the command's exit code (from the v4 Status), 100+ on client errors.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

type statusCause struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type status struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Details struct {
		Causes []statusCause `json:"causes"`
	} `json:"details"`
}

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyexec: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	stdinText := flag.String("stdin", "", "text sent on stdin (then half-closed); enables the stdin stream")
	withStderr := flag.Bool("stderr", false, "open a stderr stream")
	hash := flag.Bool("hash", false, "print byte count and sha256 of stdout instead of stdout")
	flag.Parse()
	if flag.NArg() != 1 {
		fail(100, "usage: spdyexec [-stdin TEXT] [-stderr] [-hash] URL")
	}
	u, err := url.Parse(flag.Arg(0))
	if err != nil {
		fail(100, "bad url: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		fail(101, "dial: %v", err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"+
		"X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: channel.k8s.io\r\n\r\n",
		u.RequestURI(), u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		fail(102, "read upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		fail(102, "upgrade refused: %s", resp.Status)
	}
	if p := resp.Header.Get("X-Stream-Protocol-Version"); p != "v4.channel.k8s.io" {
		fail(102, "negotiated %q", p)
	}
	sc, err := spdystream.NewConnection(conn, false)
	if err != nil {
		fail(103, "spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	defer sc.Close()

	open := func(kind string) *spdystream.Stream {
		h := http.Header{}
		h.Set("streamType", kind)
		s, err := sc.CreateStream(h, nil, false)
		if err != nil {
			fail(104, "create %s stream: %v", kind, err)
		}
		if err := s.WaitTimeout(10 * time.Second); err != nil {
			fail(104, "%s stream reply: %v", kind, err)
		}
		return s
	}
	errStream := open("error")
	var stdinStream *spdystream.Stream
	if *stdinText != "" {
		stdinStream = open("stdin")
	}
	stdoutStream := open("stdout")
	var stderrStream *spdystream.Stream
	if *withStderr {
		stderrStream = open("stderr")
	}

	var wg sync.WaitGroup
	if stdinStream != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdinStream.Write([]byte(*stdinText))
			stdinStream.Close()
		}()
	}
	var stderrData []byte
	if stderrStream != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stderrData, _ = io.ReadAll(stderrStream)
		}()
	}
	h := sha256.New()
	var n int64
	if *hash {
		n, err = io.Copy(h, stdoutStream)
	} else {
		n, err = io.Copy(os.Stdout, stdoutStream)
	}
	if err != nil {
		fail(105, "read stdout: %v", err)
	}
	errData, err := io.ReadAll(errStream)
	if err != nil {
		fail(105, "read error stream: %v", err)
	}
	wg.Wait()
	if *hash {
		fmt.Printf("bytes=%d sha256=%s\n", n, hex.EncodeToString(h.Sum(nil)))
	}
	if len(stderrData) > 0 {
		fmt.Printf("stderr=%s", stderrData)
	}
	fmt.Printf("status=%s\n", errData)
	var st status
	if err := json.Unmarshal(errData, &st); err != nil {
		fail(106, "bad status JSON %q: %v", errData, err)
	}
	if st.Status == "Success" {
		os.Exit(0)
	}
	for _, c := range st.Details.Causes {
		if c.Reason == "ExitCode" {
			code, err := strconv.Atoi(c.Message)
			if err == nil {
				os.Exit(code)
			}
		}
	}
	fail(107, "failure status without exit code: %s", errData)
}
