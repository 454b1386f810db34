// A thin RAII layer over the SQLite C API, just enough for flist databases.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  ~SqliteStatement();

  // Returns true while a row is available, false when done.
  absl::StatusOr<bool> Step();
  absl::Status Run();  // steps to completion and resets
  absl::Status Reset();

  void BindInt64(int index, int64_t value);
  void BindBlob(int index, std::string_view value);
  void BindText(int index, std::string_view value);

  int64_t Int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // Bytes of a BLOB or TEXT column.
  std::string_view Bytes(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteDb {
 public:
  static absl::StatusOr<SqliteDb> OpenReadOnly(const std::string& path);
  static absl::StatusOr<SqliteDb> Create(const std::string& path);
  // An in-memory database holding a copy of a serialized database image.
  static absl::StatusOr<SqliteDb> FromImage(std::string_view image);

  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteDb& operator=(SqliteDb&&) = delete;
  ~SqliteDb();

  absl::Status Exec(const std::string& sql);
  absl::StatusOr<SqliteStatement> Prepare(std::string_view sql);
  // Whether `name` is an ordinary table of the main schema: false when no
  // table, view or virtual table has that name, InvalidArgument naming it
  // when it is anything other than a plain `CREATE TABLE` without generated
  // columns. Readers of untrusted files check every table they select from
  // this way, since a view or a generated column computes rows or values
  // that the file does not hold (e.g. an endless recursive CTE).
  absl::StatusOr<bool> HasPlainTable(std::string_view name);
  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace flint::flist
