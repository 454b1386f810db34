#include <sys/un.h>

#include <string>

#include "cri/runtime/pod_runtime.h"
#include "gtest/gtest.h"

namespace flint::runtime {
namespace {

TEST(ShimSocketPathTest, DefaultStateDirFits) {
  EXPECT_TRUE(CheckStateDirFitsShimSockets("/run/flint").ok());
  EXPECT_EQ(ShimSocketPathFor("/run/flint", "abc"), "/run/flint/shims/abc.sock");
}

TEST(ShimSocketPathTest, LongestFittingStateDirIsAcceptedAndOneMoreByteIsRefused) {
  // "/shims/" + 64 hex + ".sock" = 76 bytes; sun_path holds 107 plus the NUL.
  const size_t limit = sizeof(sockaddr_un::sun_path) - 1 - 76;
  std::string fits = "/" + std::string(limit - 1, 'd');
  ASSERT_EQ(fits.size(), limit);
  EXPECT_TRUE(CheckStateDirFitsShimSockets(fits).ok());
  absl::Status too_long = CheckStateDirFitsShimSockets(fits + "x");
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("at most 31 bytes"), std::string::npos) << too_long.message();
}

}  // namespace
}  // namespace flint::runtime
