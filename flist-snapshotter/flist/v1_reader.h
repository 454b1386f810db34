// Reads a v1 ("0-flist", .flist) flist: a gzip'd tar holding flistdb.sqlite3,
// whose `entries` table maps blake2b-128 keys to Cap'n Proto `Dir` messages
// (one per directory) and `ACI` messages (permission sets).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/flist/sqlite_db.h"

namespace flint::flist {

// The tar.gz container.
absl::StatusOr<Flist> ReadV1Archive(const std::string& path);
// An opened flistdb.sqlite3.
absl::StatusOr<Flist> ReadV1(SqliteDb& db);

// Key of the directory at `relative_path` ("" for the root, no leading or
// trailing '/'): lower-case hex of blake2b-128 of the path.
std::string V1DirectoryKey(std::string_view relative_path);

// The v1 metadata `backend` JSON ({"host","port","namespace","password"}) as a
// zdb:// URL.
absl::StatusOr<std::string> V1BackendUrl(std::string_view backend_json);

}  // namespace flint::flist
