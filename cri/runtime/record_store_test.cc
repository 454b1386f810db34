#include "cri/runtime/record_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fs.h"

namespace flint::runtime {
namespace {

class RecordStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-records-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  std::string dir_;
};

TEST_F(RecordStoreTest, RecordsSurviveReopenAndPrefixesResolve) {
  {
    auto store = RecordStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    SandboxRecord sandbox;
    sandbox.set_id("abc123");
    sandbox.mutable_config()->mutable_metadata()->set_name("web");
    sandbox.set_ip("10.1.0.5");
    ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
    ContainerRecord a, b;
    a.set_id("def111");
    a.set_sandbox_id("abc123");
    b.set_id("def222");
    b.set_sandbox_id("other");
    ASSERT_TRUE((*store)->PutContainer(a).ok());
    ASSERT_TRUE((*store)->PutContainer(b).ok());
  }
  auto store = RecordStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  std::optional<SandboxRecord> sandbox = (*store)->GetSandbox("abc123");
  ASSERT_TRUE(sandbox.has_value());
  EXPECT_EQ(sandbox->config().metadata().name(), "web");
  EXPECT_EQ(sandbox->ip(), "10.1.0.5");
  EXPECT_EQ((*store)->ContainersOf("abc123").size(), 1u);
  EXPECT_EQ(*(*store)->ResolveSandboxId("abc"), "abc123");
  EXPECT_EQ((*store)->ResolveContainerId("def").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*(*store)->ResolveContainerId("def2"), "def222");
  EXPECT_EQ((*store)->ResolveContainerId("zzz").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*store)->DeleteContainer("def222").ok());
  EXPECT_FALSE((*store)->GetContainer("def222").has_value());
  auto reopened = RecordStore::Open(dir_);
  EXPECT_EQ((*reopened)->Containers().size(), 1u);
}

TEST_F(RecordStoreTest, CorruptRowIsSkipped) {
  {
    auto store = RecordStore::Open(dir_);
    ASSERT_TRUE(store.ok());
  }
  std::string cmd = "sqlite3 " + dir_ + "/runtime.db \"INSERT INTO records VALUES ('container', 'bad', x'ffff00')\"";
  if (system("command -v sqlite3 >/dev/null") != 0) GTEST_SKIP() << "sqlite3 CLI not installed";
  ASSERT_EQ(system(cmd.c_str()), 0);
  auto store = RecordStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Containers().empty());
}

TEST_F(RecordStoreTest, DeleteRemovesRowAndDirectory) {
  auto store = RecordStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  SandboxRecord sandbox;
  sandbox.set_id("s1");
  ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  ASSERT_TRUE(fs::MakeDirs((*store)->SandboxDir("s1") + "/bundle").ok());
  ASSERT_TRUE((*store)->DeleteSandbox("s1").ok());
  EXPECT_NE(access((*store)->SandboxDir("s1").c_str(), F_OK), 0);
  auto reopened = RecordStore::Open(dir_);
  EXPECT_TRUE((*reopened)->Sandboxes().empty());
}

}  // namespace
}  // namespace flint::runtime
