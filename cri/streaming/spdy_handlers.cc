#include "cri/streaming/spdy_handlers.h"

#include <atomic>
#include <list>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/streaming/spdy_session.h"

namespace flint::streaming {

using spdy::Session;
using spdy::SessionOptions;
using spdy::Stream;

void ServeSpdyRemoteCommand(std::unique_ptr<Socket> sock, int version, const RemoteCommandRequest& request,
                            StreamingRuntime& runtime, const StreamTimeouts& timeouts) {
  Session session(std::move(sock), SessionOptions{});
  session.Start();
  std::shared_ptr<Stream> error, in, out, err, resize;
  const bool want_resize = request.tty && version >= 3;
  auto missing = [&] {
    return !error || (request.stdin && !in) || (request.stdout && !out) || (request.stderr && !err) ||
           (want_resize && !resize);
  };
  const absl::Time deadline = absl::Now() + timeouts.stream_creation;
  while (missing()) {
    std::shared_ptr<Stream> s = session.AcceptStream(deadline);
    if (!s) {
      FLINT_LOG(WARN) << "streaming: container " << request.container_id
                      << ": timed out or disconnected while waiting for the client to create streams";
      session.Finish(absl::Seconds(1));
      return;
    }
    std::string type = s->Header("streamType");
    std::shared_ptr<Stream>* slot = type == "error"    ? &error
                                    : type == "stdin"  ? &in
                                    : type == "stdout" ? &out
                                    : type == "stderr" ? &err
                                    : type == "resize" ? &resize
                                                       : nullptr;
    if (slot == nullptr || *slot) {
      FLINT_LOG(WARN) << "streaming: rejecting unexpected stream type '" << type << "'";
      s->Reset(spdy::kProtocolError);
      continue;
    }
    *slot = std::move(s);
  }

  ResizeChannel resize_channel;
  std::thread resize_pump;
  if (want_resize) {
    resize_pump = std::thread([&] {
      TerminalSizeParser parser;
      char buf[1024];
      for (;;) {
        auto n = resize->Read(buf, sizeof(buf));
        if (!n.ok() || *n == 0) break;
        for (const TerminalSize& size : parser.Feed(std::string_view(buf, *n))) resize_channel.Push(size);
      }
    });
  }

  ExecStreams streams;
  streams.stdin_stream = request.stdin ? in.get() : nullptr;
  streams.stdout_stream = request.stdout ? out.get() : nullptr;
  streams.stderr_stream = request.stderr && !request.tty ? err.get() : nullptr;
  streams.resize = want_resize ? &resize_channel : nullptr;
  streams.tty = request.tty;
  streams.cancel = &session.cancel();
  std::string message = RunRemoteCommand(runtime, request, streams, version);

  if (out) (void)out->Close();
  if (err) (void)err->Close();
  if (!message.empty()) (void)error->Write(message);
  (void)error->Close();
  if (in) in->Abort();
  if (resize) resize->Abort();
  resize_channel.Close();
  if (resize_pump.joinable()) resize_pump.join();
  session.Finish();
}

namespace {

struct PendingPair {
  std::shared_ptr<Stream> data;
  std::shared_ptr<Stream> error;
  absl::Time deadline;
};

struct Worker {
  std::thread thread;
  std::shared_ptr<std::atomic<bool>> done;
};

void ForwardOne(StreamingRuntime& runtime, CancelSignal& cancel, const std::string& sandbox_id,
                std::shared_ptr<Stream> data, std::shared_ptr<Stream> error) {
  std::string port_str = data->Header("port");
  int port = 0;
  absl::Status st;
  if (!absl::SimpleAtoi(port_str, &port) || port <= 0 || port > 65535) {
    st = absl::InvalidArgumentError(absl::StrCat("invalid port '", port_str, "'"));
  } else {
    PortForwardStream pf{data.get(), data.get(), &cancel};
    st = runtime.PortForward(sandbox_id, port, pf);
  }
  if (!st.ok()) {
    (void)error->Write(absl::StrCat("error forwarding port ", port_str, " to pod ", sandbox_id, ": ", st.message()));
  }
  (void)error->Close();
  (void)data->Close();
  data->Abort();
  error->Abort();
}

}  // namespace

void ServeSpdyPortForward(std::unique_ptr<Socket> sock, const runtime::v1::PortForwardRequest& request,
                          StreamingRuntime& runtime, const StreamTimeouts& timeouts) {
  Session session(std::move(sock), SessionOptions{});
  session.Start();
  const std::string sandbox_id = request.pod_sandbox_id();
  std::map<std::string, PendingPair> pending;
  std::list<Worker> workers;
  absl::Time last_activity = absl::Now();

  auto reap = [&] {
    for (auto it = workers.begin(); it != workers.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
  };

  for (;;) {
    reap();
    absl::Time wake = workers.empty() ? last_activity + timeouts.idle : absl::Now() + absl::Seconds(1);
    for (const auto& [id, p] : pending) wake = std::min(wake, p.deadline);
    std::shared_ptr<Stream> s = session.AcceptStream(wake);
    absl::Time now = absl::Now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.deadline <= now) {
        FLINT_LOG(WARN) << "streaming: port-forward request " << it->first << " incomplete, resetting";
        if (it->second.data) it->second.data->Reset();
        if (it->second.error) it->second.error->Reset();
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (!s) {
      if (session.closed()) break;
      if (workers.empty() && now >= last_activity + timeouts.idle) break;
      continue;
    }
    last_activity = now;
    std::string type = s->Header("streamType");
    if (type != "data" && type != "error") {
      s->Reset(spdy::kProtocolError);
      continue;
    }
    std::string request_id = s->Header("requestID");
    if (request_id.empty()) request_id = std::to_string(type == "error" ? s->id() : s->id() - 2);
    PendingPair& pair = pending[request_id];
    if (pair.deadline == absl::Time()) pair.deadline = now + timeouts.stream_creation;
    std::shared_ptr<Stream>& slot = type == "data" ? pair.data : pair.error;
    if (slot) {
      s->Reset(spdy::kProtocolError);
      continue;
    }
    slot = std::move(s);
    if (pair.data && pair.error) {
      auto done = std::make_shared<std::atomic<bool>>(false);
      workers.push_back(Worker{std::thread([&runtime, &session, sandbox_id, data = pair.data, error = pair.error, done] {
                                 ForwardOne(runtime, session.cancel(), sandbox_id, data, error);
                                 done->store(true);
                               }),
                               done});
      pending.erase(request_id);
    }
  }
  // Connection gone or idle: make runtimes stop forwarding, then wait for them.
  session.cancel().Cancel();
  for (auto& [id, p] : pending) {
    if (p.data) p.data->Abort();
    if (p.error) p.error->Abort();
  }
  pending.clear();
  for (auto& w : workers) w.thread.join();
  session.Finish(absl::Seconds(1));
}

}  // namespace flint::streaming
