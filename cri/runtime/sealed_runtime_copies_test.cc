#include "cri/runtime/sealed_runtime_copies.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cri/runtime/oci_runtime_cli.h"

namespace flint::runtime {
namespace {

namespace fs = std::filesystem;

class SealedRuntimeCopiesTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-sealed-copies-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runtime_ = dir_ + "/runtime";
    fs::copy_file("/bin/sh", runtime_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
  std::string runtime_;
};

TEST_F(SealedRuntimeCopiesTest, OneCopyPerFileVersionRunByRunOciRuntime) {
  SealedRuntimeCopies copies;
  RuntimeHandler handler{runtime_, {}, false, true};
  std::shared_ptr<const SealedRuntimeCopy> first = copies.For(handler);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(copies.For(handler), first);  // reused while the file is unchanged

  // flintd's own runtime calls execute the copy; argv[0] stays the configured path.
  absl::StatusOr<std::string> out = RunOciRuntime(
      handler, {"-c", "echo \"$0\"; readlink /proc/$$/exe"}, "", absl::Seconds(30), first->exec_path());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->substr(0, out->find('\n')), runtime_);
  EXPECT_NE(out->find("\n/memfd:flint-runtime"), std::string::npos) << *out;

  // A package upgrade replaces the file: the next call gets a new copy, the old one stays usable.
  fs::remove(runtime_);
  fs::copy_file("/bin/sh", runtime_);
  std::shared_ptr<const SealedRuntimeCopy> renewed = copies.For(handler);
  ASSERT_NE(renewed, nullptr);
  EXPECT_NE(renewed, first);
  EXPECT_NE(renewed->fd(), first->fd());
  EXPECT_EQ(fcntl(first->fd(), F_GET_SEALS) >= 0, true);
}

TEST_F(SealedRuntimeCopiesTest, NoCopyWhenTheHandlerOptsOutOrTheBinaryIsAScript) {
  SealedRuntimeCopies copies;
  EXPECT_EQ(copies.For(RuntimeHandler{runtime_, {}, false, false}), nullptr);

  const std::string script = dir_ + "/wrapper";
  std::ofstream(script) << "#!/bin/sh\nexec /bin/true \"$@\"\n";
  chmod(script.c_str(), 0755);
  RuntimeHandler wrapper{script, {}, false, true};
  EXPECT_EQ(copies.For(wrapper), nullptr);
  // ...and it still runs from its path.
  EXPECT_TRUE(RunOciRuntime(wrapper, {"state", "x"}).ok());

  EXPECT_EQ(copies.For(RuntimeHandler{dir_ + "/missing", {}, false, true}), nullptr);
}

}  // namespace
}  // namespace flint::runtime
