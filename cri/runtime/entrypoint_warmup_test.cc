#include "cri/runtime/entrypoint_warmup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "cri/oci/test_util.h"

namespace flint::runtime {
namespace {

namespace fs = std::filesystem;
using oci::testing::WriteFile;

class EntrypointWarmupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.Sub("bin/busybox"), "binary");
    fs::create_symlink("/bin/busybox", dir_.Sub("bin/sh"));  // absolute: must resolve inside the root
    WriteFile(dir_.Sub("app/run"), "script");
    fs::create_directories(dir_.Sub("usr/bin"));
    ASSERT_EQ(mkfifo(dir_.Sub("usr/bin/fifo").c_str(), 0644), 0);
  }

  static nlohmann::json Spec(std::vector<std::string> args, std::vector<std::string> env = {},
                             std::string cwd = "/") {
    return {{"process", {{"args", args}, {"env", env}, {"cwd", cwd}}}};
  }

  oci::testing::TempDir dir_;
  const std::string& root_ = dir_.path();
};

TEST_F(EntrypointWarmupTest, FindsAbsoluteRelativeAndPathPrograms) {
  EXPECT_EQ(*WarmEntrypoint(root_, Spec({"/bin/sh", "-c", "true"})), "/bin/sh");
  EXPECT_EQ(*WarmEntrypoint(root_, Spec({"sh"})), "/bin/sh");  // default PATH
  EXPECT_EQ(*WarmEntrypoint(root_, Spec({"run"}, {"PATH=/nowhere:/app"})), "/app/run");
  EXPECT_EQ(*WarmEntrypoint(root_, Spec({"./run"}, {}, "/app")), "/app/./run");
}

TEST_F(EntrypointWarmupTest, StaysInsideTheRootAndSkipsWhatIsNotAFile) {
  // A link that climbs out of the root resolves to the root's own /etc/hostname: absent here.
  fs::create_symlink("/../../../../etc/hostname", dir_.Sub("bin/escape"));
  ASSERT_TRUE(fs::exists("/etc/hostname"));
  EXPECT_EQ(WarmEntrypoint(root_, Spec({"/bin/escape"})).status().code(), absl::StatusCode::kNotFound);
  // A FIFO is not opened (that would block or have effects); a directory is not a program.
  EXPECT_EQ(WarmEntrypoint(root_, Spec({"/usr/bin/fifo"})).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WarmEntrypoint(root_, Spec({"/app"})).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WarmEntrypoint(root_, Spec({"missing"})).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WarmEntrypoint(root_, nlohmann::json::object()).status().code(), absl::StatusCode::kNotFound);
}

TEST(FlistStartupPathsTest, ListsUserFilesStartupTomlAndProgramCandidates) {
  const std::vector<std::string> base = {"/.startup.toml", "/etc/passwd", "/etc/group"};
  EXPECT_EQ(FlistStartupPaths(""), base);
  std::vector<std::string> absolute = base;
  absolute.push_back("/bin/sh");
  EXPECT_EQ(FlistStartupPaths("/bin/sh"), absolute);
  std::vector<std::string> relative = base;
  relative.push_back("/app/run");
  EXPECT_EQ(FlistStartupPaths("app/run"), relative);
  std::vector<std::string> searched = base;
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    searched.push_back(std::string(dir) + "/sh");
  }
  EXPECT_EQ(FlistStartupPaths("sh"), searched);
}

}  // namespace
}  // namespace flint::runtime
