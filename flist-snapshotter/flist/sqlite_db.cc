#include "flist-snapshotter/flist/sqlite_db.h"

#include <cctype>
#include <cstring>

#include "flist-snapshotter/util/absl_compat.h"
#include "absl/strings/str_cat.h"

namespace flint::flist {

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

SqliteStatement::~SqliteStatement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

absl::StatusOr<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_)));
}

absl::Status SqliteStatement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) {
      sqlite3_reset(stmt_);
      return row.status();
    }
    if (!*row) break;
  }
  return Reset();
}

absl::Status SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return absl::OkStatus();
}

void SqliteStatement::BindInt64(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void SqliteStatement::BindBlob(int index, std::string_view value) {
  sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT);
}

void SqliteStatement::BindText(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

std::string_view SqliteStatement::Bytes(int col) const {
  // sqlite3_column_blob before _bytes, as the SQLite docs recommend.
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(n));
}

SqliteDb::~SqliteDb() {
  if (db_ != nullptr) sqlite3_close(db_);
}

namespace {
// `name` (a file name or URI) is opened; `path` is what errors mention.
absl::StatusOr<sqlite3*> OpenRaw(const std::string& path, int flags, const std::string& name = "") {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(name.empty() ? path.c_str() : name.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::InvalidArgumentError(absl::StrCat("sqlite open ", path, ": ", msg));
  }
  sqlite3_extended_result_codes(db, 1);
  // Flists come from the network: refuse schema tricks (views or triggers
  // calling functions, writes to the schema) in files we did not write.
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  return db;
}
}  // namespace

absl::StatusOr<SqliteDb> SqliteDb::OpenReadOnly(const std::string& path) {
  // immutable=1: an flist file never changes once written (flintd and our
  // packer rename complete files into place), so SQLite can skip its file
  // locks and journal checks, which otherwise cost two syscalls per query and
  // show up in the start time of every flist mount.
  std::string uri = "file:";
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' || c == '-') {
      uri.push_back(c);
    } else {
      absl::StrAppend(&uri, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  uri += "?immutable=1";
  auto db = OpenRaw(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, uri);
  if (!db.ok()) return db.status();
  return SqliteDb(*db);
}

absl::StatusOr<SqliteDb> SqliteDb::Create(const std::string& path) {
  auto db = OpenRaw(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) return db.status();
  return SqliteDb(*db);
}

absl::StatusOr<SqliteDb> SqliteDb::FromImage(std::string_view image) {
  auto opened = OpenRaw(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY);
  if (!opened.ok()) return opened.status();
  SqliteDb db(*opened);
  auto* buf = static_cast<unsigned char*>(sqlite3_malloc64(image.size()));
  if (buf == nullptr) return absl::ResourceExhaustedError("sqlite: out of memory");
  std::memcpy(buf, image.data(), image.size());
  int rc = sqlite3_deserialize(db.db_, "main", buf, image.size(), image.size(),
                               SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
  if (rc != SQLITE_OK) return absl::InvalidArgumentError(absl::StrCat("sqlite deserialize: ", sqlite3_errstr(rc)));
  return db;
}

absl::Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("sqlite: ", msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite prepare \"", Av(sql), "\": ", sqlite3_errmsg(db_)));
  }
  return SqliteStatement(db_, stmt);
}

namespace {
// "CREATE TABLE ..." in any letter case; "CREATE VIEW", "CREATE VIRTUAL
// TABLE" and anything unusual between the keywords are not.
bool IsCreateTable(std::string_view sql) {
  auto keyword = [&sql](std::string_view word) {
    while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front()))) sql.remove_prefix(1);
    if (sql.size() <= word.size() || !std::isspace(static_cast<unsigned char>(sql[word.size()]))) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(sql[i])) != word[i]) return false;
    }
    sql.remove_prefix(word.size());
    return true;
  };
  return keyword("CREATE") && keyword("TABLE");
}
}  // namespace

absl::StatusOr<bool> SqliteDb::HasPlainTable(std::string_view name) {
  const std::string what = absl::StrCat("table \"", Av(name), "\"");
  auto failed = [&what](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("check ", what, ": ", s.message()));
  };
  // SQL resolves names case-insensitively (ASCII only, like NOCASE), so a
  // view "ENTRIES" would answer `FROM entries`. Every schema object with the
  // name counts, whatever its type.
  auto objects = Prepare("SELECT type, sql FROM main.sqlite_master WHERE name = ?1 COLLATE NOCASE");
  if (!objects.ok()) return failed(objects.status());
  objects->BindText(1, name);
  bool found = false;
  while (true) {
    auto row = objects->Step();
    if (!row.ok()) return failed(row.status());
    if (!*row) break;
    found = true;
    const std::string_view type = objects->Bytes(0);
    const std::string_view sql = objects->Bytes(1);
    if (type != "table") {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not an ordinary table (schema type \"", Av(type.substr(0, 16)), "\")"));
    }
    if (!IsCreateTable(sql)) {
      const bool cut = sql.size() > 48;
      return absl::InvalidArgumentError(absl::StrCat(what, " is not an ordinary table (schema \"",
                                                     Av(sql.substr(0, 48)), cut ? "...\")" : "\")"));
    }
  }
  if (!found) return false;

  // hidden: 0 ordinary, 1 hidden column of a virtual table, 2 generated
  // VIRTUAL (computed on every read), 3 generated STORED.
  auto columns = Prepare("SELECT name, hidden FROM pragma_table_xinfo(?1, 'main')");
  if (!columns.ok()) return failed(columns.status());
  columns->BindText(1, name);
  while (true) {
    auto row = columns->Step();
    if (!row.ok()) return failed(row.status());
    if (!*row) break;
    if (columns->Int64(1) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a generated or hidden column \"", Av(columns->Bytes(0).substr(0, 64)), "\""));
    }
  }
  return true;
}

}  // namespace flint::flist
