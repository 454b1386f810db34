// spdytunnel is an independent peer for SPDY tunnelled through WebSocket, the transport of
// client-go's SPDY-over-WebSocket dialer (`crictl port-forward --transport websocket`,
// kubectl >= 1.30): gorilla/websocket offering "SPDY/3.1+portforward.k8s.io", and Go
// spdystream running over the binary messages.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o spdytunnel ./spdytunnel
//
// Usage: spdytunnel URL PORT MESSAGE
// For request IDs 0 and 1 it opens the error+data stream pair for PORT, sends MESSAGE,
// half-closes, and prints "protocol=<chosen>", "echo<id>=<bytes read back>" and
// "error<id>=<error stream text>".
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/moby/spdystream"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdytunnel: "+format+"\n", args...)
	os.Exit(100)
}

// messageConn presents a WebSocket connection as a byte stream: writes become binary
// messages, reads concatenate the payloads of incoming messages.
type messageConn struct {
	ws      *websocket.Conn
	current io.Reader
}

func (c *messageConn) Read(p []byte) (int, error) {
	for {
		if c.current == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					return 0, io.EOF
				}
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, fmt.Errorf("unexpected message type %d", kind)
			}
			c.current = r
		}
		n, err := c.current.Read(p)
		if err == io.EOF {
			c.current = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *messageConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *messageConn) Close() error {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	return c.ws.Close()
}

func (c *messageConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *messageConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *messageConn) SetDeadline(t time.Time) error      { return c.ws.UnderlyingConn().SetDeadline(t) }
func (c *messageConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *messageConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func main() {
	if len(os.Args) != 4 {
		fail("usage: spdytunnel URL PORT MESSAGE")
	}
	target := strings.Replace(os.Args[1], "http://", "ws://", 1)
	port, message := os.Args[2], os.Args[3]
	dialer := websocket.Dialer{
		Subprotocols:     []string{"SPDY/3.1+portforward.k8s.io"},
		HandshakeTimeout: 10 * time.Second,
	}
	ws, resp, err := dialer.Dial(target, nil)
	if err != nil {
		fail("websocket dial: %v %v", err, resp)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		fail("websocket dial: HTTP %d", resp.StatusCode)
	}
	fmt.Printf("protocol=%s\n", ws.Subprotocol())
	conn := &messageConn{ws: ws}
	sc, err := spdystream.NewConnection(conn, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)

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
		errStream.Close()
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
	sc.Close()
}
