// The container status record the shim keeps in <state-dir>/status.json.
// flintd reads it through the shim's socket while the shim lives and from the
// file when the shim is gone, so both sides share this one definition.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flint::shim {

enum class ContainerState { kCreated, kRunning, kStopped };

std::string_view ContainerStateName(ContainerState state);
bool ParseContainerState(std::string_view name, ContainerState* state);

struct ShimStatus {
  std::string id;
  int shim_pid = 0;
  int pid = 0;  // container init, host pid namespace
  ContainerState state = ContainerState::kCreated;
  int exit_code = 0;  // killed by signal N -> 128 + N
  int64_t created_at_ns = 0;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  bool oom_killed = false;
  std::string message;  // why the container stopped, when the shim knows more than the exit code
};

std::string StatusToJson(const ShimStatus& status);
bool StatusFromJson(std::string_view text, ShimStatus* status, std::string* error);

inline constexpr char kStatusFileName[] = "status.json";

// Writes <state_dir>/status.json atomically (temp file + fsync + rename).
bool WriteStatusFile(const std::string& state_dir, const ShimStatus& status, std::string* error);
bool ReadStatusFile(const std::string& state_dir, ShimStatus* status, std::string* error);

}  // namespace flint::shim
