#include "flist-snapshotter/flist/sqlite_db.h"

#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

class HasPlainTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/plain-table-" + std::to_string(getpid()) + ".sqlite3";
    unlink(path_.c_str());
  }
  void TearDown() override { unlink(path_.c_str()); }

  // Runs `sql` on a fresh database and checks `name` in it, read-only as a reader would.
  absl::StatusOr<bool> Check(const std::string& sql, const std::string& name) {
    unlink(path_.c_str());
    {
      auto db = SqliteDb::Create(path_);
      if (!db.ok()) return db.status();
      if (auto s = db->Exec(sql); !s.ok()) return s;
    }
    auto db = SqliteDb::OpenReadOnly(path_);
    if (!db.ok()) return db.status();
    return db->HasPlainTable(name);
  }

  static void ExpectRejected(const absl::StatusOr<bool>& result, const std::string& fragment) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_NE(result.status().message().find("table \"t\""), std::string::npos) << result.status();
    EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status();
  }

  std::string path_;
};

TEST_F(HasPlainTableTest, OrdinaryTablesPassAndAbsentOnesAreFalse) {
  EXPECT_EQ(Check("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB DEFAULT x'00', c TEXT NOT NULL)", "t").value(),
            true);
  EXPECT_EQ(Check("CREATE TABLE t (a INTEGER PRIMARY KEY, b INT) WITHOUT ROWID", "t").value(), true);
  EXPECT_EQ(Check("CREATE TABLE other (a)", "t").value(), false);
  // An index on the table does not make it anything else.
  EXPECT_EQ(Check("CREATE TABLE t (a); CREATE INDEX t_a ON t(a)", "t").value(), true);
}

TEST_F(HasPlainTableTest, RejectsViews) {
  ExpectRejected(Check("CREATE VIEW t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                       "SELECT printf('%032x', x) AS key, zeroblob(4096) AS value FROM c",
                       "t"),
                 "not an ordinary table");
}

// SQL matches names case-insensitively, so `FROM t` would read a view "T".
TEST_F(HasPlainTableTest, RejectsViewsWhoseNameDiffersInCase) {
  ExpectRejected(Check("CREATE VIEW T AS SELECT 1 AS a", "t"), "not an ordinary table");
}

TEST_F(HasPlainTableTest, RejectsVirtualTables) {
  auto result = Check("CREATE VIRTUAL TABLE t USING fts5(key, value)", "t");
  if (!result.ok() && result.status().message().find("no such module") != std::string::npos) {
    GTEST_SKIP() << "this SQLite has no fts5: " << result.status();
  }
  ExpectRejected(result, "CREATE VIRTUAL TABLE");
}

TEST_F(HasPlainTableTest, RejectsGeneratedColumns) {
  ExpectRejected(Check("CREATE TABLE t (key TEXT, data BLOB AS (zeroblob(100000000)))", "t"),
                 "generated or hidden column \"data\"");
  ExpectRejected(Check("CREATE TABLE t (key TEXT, copy TEXT GENERATED ALWAYS AS (key) STORED)", "t"),
                 "generated or hidden column \"copy\"");
}

}  // namespace
}  // namespace flint::flist
