// Running a helper binary (iptables) without a shell.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::cni {

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout and stderr, interleaved
};

// Runs argv[0] (looked up in PATH) with `input` on stdin and waits for it.
// `input` must fit a pipe buffer (64 KiB): it is written before output is read.
absl::StatusOr<CommandOutput> RunCommand(const std::vector<std::string>& argv, const std::string& input = "");

}  // namespace flint::cni
