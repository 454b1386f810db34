// Signal used by StopContainer: CRI stop_signal, else image STOPSIGNAL, else SIGTERM.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "api.pb.h"

namespace flint::oci {

// "SIGUSR1", "USR1", "usr1", "10", "SIGRTMIN+3", "RTMAX-1" -> signal number.
absl::StatusOr<int> ParseSignal(std::string_view name);

// Kernel signal number for a CRI Signal enum value; 0 for SIGNAL_RUNTIME_DEFAULT.
int SignalFromCri(runtime::v1::Signal signal);

// An unparsable image STOPSIGNAL falls back to SIGTERM (and is logged).
int ResolveStopSignal(runtime::v1::Signal container_stop_signal, std::string_view image_stop_signal);

}  // namespace flint::oci
