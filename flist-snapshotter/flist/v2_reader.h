// Reads a v2 ("fungi", .fl) flist: a bare SQLite database with the tables
// inode, extra, block, tag and route.
#pragma once

#include "absl/status/statusor.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/flist/sqlite_db.h"

namespace flint::flist {

absl::StatusOr<Flist> ReadV2(SqliteDb& db);

}  // namespace flint::flist
