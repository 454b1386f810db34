#include "cri/streaming/remotecommand.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace flint::streaming {

const std::vector<std::string>& SpdyRemoteCommandProtocols() {
  static const std::vector<std::string> kProtocols = {kStreamProtocolV4, kStreamProtocolV3, kStreamProtocolV2,
                                                      kStreamProtocolV1};
  return kProtocols;
}

int RemoteCommandVersion(std::string_view protocol) {
  if (protocol == kStreamProtocolV5) return 5;
  if (protocol == kStreamProtocolV4 || protocol == "v4.base64.channel.k8s.io") return 4;
  if (protocol == kStreamProtocolV3) return 3;
  if (protocol == kStreamProtocolV2) return 2;
  if (protocol == kStreamProtocolV1 || protocol == "base64.channel.k8s.io" || protocol.empty()) return 1;
  return 0;
}

std::optional<std::string> NegotiateProtocol(const std::vector<std::string>& client,
                                             const std::vector<std::string>& server) {
  for (const auto& c : client) {
    for (const auto& s : server) {
      if (c == s) return c;
    }
  }
  return std::nullopt;
}

namespace {

nlohmann::json StatusBase() {
  return nlohmann::json{{"metadata", nlohmann::json::object()}};
}

std::string InternalErrorJson(const absl::Status& st) {
  nlohmann::json j = StatusBase();
  j["status"] = "Failure";
  j["message"] = std::string(st.message());
  j["reason"] = "InternalError";
  j["details"] = {{"causes", nlohmann::json::array({{{"message", std::string(st.message())}}})}};
  j["code"] = 500;
  return j.dump();
}

std::string SuccessJson() {
  nlohmann::json j = StatusBase();
  j["status"] = "Success";
  return j.dump();
}

}  // namespace

std::string ExecResultMessage(int version, const absl::StatusOr<int>& exit_code) {
  if (!exit_code.ok()) {
    if (version >= 4) return InternalErrorJson(exit_code.status());
    return std::string(exit_code.status().message());
  }
  if (*exit_code == 0) return version >= 4 ? SuccessJson() : "";
  std::string message = absl::StrCat("command terminated with non-zero exit code: exit status ", *exit_code);
  if (version < 4) return message;
  nlohmann::json j = StatusBase();
  j["status"] = "Failure";
  j["message"] = message;
  j["reason"] = "NonZeroExitCode";
  j["details"] = {{"causes", nlohmann::json::array({{{"reason", "ExitCode"}, {"message", std::to_string(*exit_code)}}})}};
  return j.dump();
}

std::string AttachResultMessage(int version, const absl::Status& result) {
  if (result.ok()) return version >= 4 ? SuccessJson() : "";
  return version >= 4 ? InternalErrorJson(result) : std::string(result.message());
}

std::string RunRemoteCommand(StreamingRuntime& runtime, const RemoteCommandRequest& request,
                             const ExecStreams& streams, int version) {
  if (request.is_exec) {
    absl::StatusOr<int> result = runtime.Exec(request.container_id, request.cmd, streams);
    if (!result.ok()) {
      result = absl::Status(result.status().code(),
                            absl::StrCat("exec in container ", request.container_id, ": ", result.status().message()));
    }
    return ExecResultMessage(version, result);
  }
  absl::Status result = runtime.Attach(request.container_id, streams);
  if (!result.ok()) {
    result = absl::Status(result.code(),
                          absl::StrCat("attach to container ", request.container_id, ": ", result.message()));
  }
  return AttachResultMessage(version, result);
}

std::optional<TerminalSize> ParseTerminalSize(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto field = [&](const char* name) -> std::optional<uint16_t> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    auto v = it->get<uint64_t>();
    if (v > 0xffff) return std::nullopt;
    return static_cast<uint16_t>(v);
  };
  auto w = field("Width");
  auto h = field("Height");
  if (!w || !h) return std::nullopt;
  return TerminalSize{*w, *h};
}

std::vector<TerminalSize> TerminalSizeParser::Feed(std::string_view bytes) {
  std::vector<TerminalSize> out;
  for (char c : bytes) {
    if (depth_ == 0 && c != '{') continue;  // whitespace between objects
    buf_.push_back(c);
    if (buf_.size() > 4096) {  // not a terminal size; resynchronize
      buf_.clear();
      depth_ = 0;
      in_string_ = escape_ = false;
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{') {
      ++depth_;
    } else if (c == '}' && --depth_ == 0) {
      if (auto size = ParseTerminalSize(buf_)) out.push_back(*size);
      buf_.clear();
    }
  }
  return out;
}

void ResizeChannel::Push(TerminalSize size) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (queue_.size() >= 64) queue_.pop_front();  // only the latest sizes matter
    queue_.push_back(size);
  }
  cv_.notify_all();
}

std::optional<TerminalSize> ResizeChannel::Next() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
  if (closed_) return std::nullopt;
  TerminalSize s = queue_.front();
  queue_.pop_front();
  return s;
}

void ResizeChannel::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace flint::streaming
