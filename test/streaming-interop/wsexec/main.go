// wsexec is an independent WebSocket peer for flintd's exec endpoint: it speaks
// v5.channel.k8s.io (the protocol of `crictl exec -r websocket`) through gorilla/websocket.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o wsexec ./wsexec
//
// Usage: wsexec [-stdin TEXT] URL
// Prints "stdout=...", "stderr=...", "status=..." and exits with the command's exit code.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "wsexec: "+format+"\n", args...)
	os.Exit(100)
}

func main() {
	stdinText := flag.String("stdin", "", "text sent on the stdin channel, then a v5 close signal for stdin")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("usage: wsexec [-stdin TEXT] URL")
	}
	target := strings.Replace(flag.Arg(0), "http://", "ws://", 1)
	dialer := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := dialer.Dial(target, http.Header{})
	if err != nil {
		fail("dial: %v (%v)", err, resp)
	}
	defer conn.Close()
	if conn.Subprotocol() != "v5.channel.k8s.io" {
		fail("negotiated %q", conn.Subprotocol())
	}
	if *stdinText != "" {
		if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{0}, []byte(*stdinText)...)); err != nil {
			fail("write stdin: %v", err)
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, []byte{255, 0}); err != nil {
			fail("close stdin: %v", err)
		}
	}
	var stdout, stderr, status []byte
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				break
			}
			fail("read: %v", err)
		}
		if kind != websocket.BinaryMessage || len(data) == 0 {
			continue
		}
		switch data[0] {
		case 1:
			stdout = append(stdout, data[1:]...)
		case 2:
			stderr = append(stderr, data[1:]...)
		case 3:
			status = append(status, data[1:]...)
		}
	}
	fmt.Printf("stdout=%s\nstderr=%s\nstatus=%s\n", stdout, stderr, status)
	var st struct {
		Status  string `json:"status"`
		Details struct {
			Causes []struct {
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"causes"`
		} `json:"details"`
	}
	if err := json.Unmarshal(status, &st); err != nil {
		fail("bad status %q: %v", status, err)
	}
	if st.Status == "Success" {
		os.Exit(0)
	}
	for _, c := range st.Details.Causes {
		if c.Reason == "ExitCode" {
			if code, err := strconv.Atoi(c.Message); err == nil {
				os.Exit(code)
			}
		}
	}
	fail("failure without exit code: %s", status)
}
