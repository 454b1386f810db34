#include "cri/image/metadata_store.h"

#include <sqlite3.h>

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flint::image {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, manifest_digest TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_names (name TEXT PRIMARY KEY, image_id TEXT NOT NULL, is_digest INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);
CREATE TABLE IF NOT EXISTS layers (chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, unpacked_size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_layers (image_id TEXT NOT NULL, position INTEGER NOT NULL, chain_id TEXT NOT NULL,
                                         PRIMARY KEY (image_id, position));
CREATE INDEX IF NOT EXISTS image_layers_by_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS layer_leases (holder TEXT NOT NULL, chain_id TEXT NOT NULL, PRIMARY KEY (holder, chain_id));
)sql";

}  // namespace

absl::StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat("open image metadata ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<MetadataStore> store(new MetadataStore(db));
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", kSchema}) {
    if (absl::Status s = store->Exec(sql); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("image metadata ", path, ": ", s.message()));
    }
  }
  return store;
}

MetadataStore::~MetadataStore() { sqlite3_close(db_); }

absl::Status MetadataStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("sqlite: ", err != nullptr ? err : "error"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<std::string>>> MetadataStore::Query(const std::string& sql,
                                                                           const std::vector<std::string>& args) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("sqlite prepare: ", sqlite3_errmsg(db_)));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    sqlite3_bind_text(stmt, static_cast<int>(i + 1), args[i].c_str(), static_cast<int>(args[i].size()),
                      SQLITE_TRANSIENT);
  }
  std::vector<std::vector<std::string>> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      const unsigned char* text = sqlite3_column_text(stmt, c);
      row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
    }
    rows.push_back(std::move(row));
  }
  absl::Status status;
  if (rc != SQLITE_DONE) {
    int code = sqlite3_extended_errcode(db_);
    std::string msg = absl::StrCat("sqlite: ", sqlite3_errmsg(db_));
    status = code == SQLITE_FULL ? absl::ResourceExhaustedError(msg) : absl::InternalError(msg);
  }
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return rows;
}

absl::Status MetadataStore::Run(const std::string& sql, const std::vector<std::string>& args) {
  return Query(sql, args).status();
}

absl::Status MetadataStore::Transaction(const std::function<absl::Status()>& body) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status status = body();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) (void)Exec("ROLLBACK");
  return status;
}

absl::Status MetadataStore::PutLayer(const LayerRecord& layer) {
  return Run("INSERT OR REPLACE INTO layers (chain_id, diff_id, unpacked_size) VALUES (?, ?, ?)",
             {layer.chain_id, layer.diff_id, absl::StrCat(layer.unpacked_size)});
}

absl::StatusOr<std::vector<LayerRecord>> MetadataStore::ListLayers() {
  auto rows = Query("SELECT chain_id, diff_id, unpacked_size FROM layers", {});
  if (!rows.ok()) return rows.status();
  std::vector<LayerRecord> out;
  for (auto& r : *rows) {
    LayerRecord l{r[0], r[1], 0};
    (void)absl::SimpleAtoi(r[2], &l.unpacked_size);
    out.push_back(std::move(l));
  }
  return out;
}

absl::StatusOr<bool> MetadataStore::HasLayer(const std::string& chain_id) {
  auto rows = Query("SELECT 1 FROM layers WHERE chain_id = ?", {chain_id});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

absl::Status MetadataStore::DeleteLayer(const std::string& chain_id) {
  return Run("DELETE FROM layers WHERE chain_id = ?", {chain_id});
}

absl::StatusOr<std::vector<std::string>> MetadataStore::UnreferencedLayers() {
  auto rows = Query(
      "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers) "
      "AND chain_id NOT IN (SELECT chain_id FROM layer_leases)",
      {});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (auto& r : *rows) out.push_back(r[0]);
  return out;
}

absl::Status MetadataStore::PutImage(const ImageRecord& image) {
  return Transaction([&]() -> absl::Status {
    if (absl::Status s = Run("INSERT OR REPLACE INTO images (id, manifest_digest, size) VALUES (?, ?, ?)",
                             {image.id, image.manifest_digest, absl::StrCat(image.size)});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Run("DELETE FROM image_layers WHERE image_id = ?", {image.id}); !s.ok()) return s;
    for (size_t i = 0; i < image.chain_ids.size(); ++i) {
      if (absl::Status s = Run("INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)",
                               {image.id, absl::StrCat(i), image.chain_ids[i]});
          !s.ok()) {
        return s;
      }
    }
    for (const std::string& t : image.tags) {
      if (absl::Status s =
              Run("INSERT OR REPLACE INTO image_names (name, image_id, is_digest) VALUES (?, ?, 0)", {t, image.id});
          !s.ok()) {
        return s;
      }
    }
    for (const std::string& d : image.digests) {
      if (absl::Status s =
              Run("INSERT OR REPLACE INTO image_names (name, image_id, is_digest) VALUES (?, ?, 1)", {d, image.id});
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<ImageRecord>> MetadataStore::GetImage(const std::string& id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto rows = Query("SELECT id, manifest_digest, size FROM images WHERE id = ?", {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<ImageRecord>();
  ImageRecord rec;
  rec.id = (*rows)[0][0];
  rec.manifest_digest = (*rows)[0][1];
  (void)absl::SimpleAtoi((*rows)[0][2], &rec.size);
  auto layers = Query("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", {id});
  if (!layers.ok()) return layers.status();
  for (auto& r : *layers) rec.chain_ids.push_back(r[0]);
  auto names = Query("SELECT name, is_digest FROM image_names WHERE image_id = ? ORDER BY name", {id});
  if (!names.ok()) return names.status();
  for (auto& r : *names) (r[1] == "1" ? rec.digests : rec.tags).push_back(r[0]);
  return std::optional<ImageRecord>(std::move(rec));
}

absl::StatusOr<std::vector<ImageRecord>> MetadataStore::ListImages() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto rows = Query("SELECT id FROM images ORDER BY id", {});
  if (!rows.ok()) return rows.status();
  std::vector<ImageRecord> out;
  for (auto& r : *rows) {
    auto rec = GetImage(r[0]);
    if (!rec.ok()) return rec.status();
    if (*rec) out.push_back(std::move(**rec));
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> MetadataStore::ResolveName(const std::string& name) {
  auto rows = Query("SELECT image_id FROM image_names WHERE name = ?", {name});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>((*rows)[0][0]);
}

absl::StatusOr<std::vector<std::string>> MetadataStore::ImageIdsWithPrefix(const std::string& prefix) {
  auto rows = Query("SELECT id FROM images WHERE substr(id, 1, length(?1)) = ?1", {prefix});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (auto& r : *rows) out.push_back(r[0]);
  return out;
}

absl::Status MetadataStore::DeleteImage(const std::string& id) {
  return Transaction([&]() -> absl::Status {
    for (const char* sql : {"DELETE FROM image_names WHERE image_id = ?", "DELETE FROM image_layers WHERE image_id = ?",
                            "DELETE FROM images WHERE id = ?"}) {
      if (absl::Status s = Run(sql, {id}); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> MetadataStore::ImagesWithMissingLayers() {
  auto rows =
      Query("SELECT DISTINCT image_id FROM image_layers WHERE chain_id NOT IN (SELECT chain_id FROM layers)", {});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (auto& r : *rows) out.push_back(r[0]);
  return out;
}

absl::Status MetadataStore::AddLease(const std::string& holder, const std::vector<std::string>& chain_ids) {
  return Transaction([&]() -> absl::Status {
    for (const std::string& c : chain_ids) {
      if (absl::Status s = Run("INSERT OR IGNORE INTO layer_leases (holder, chain_id) VALUES (?, ?)", {holder, c});
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::Status MetadataStore::RemoveLease(const std::string& holder) {
  return Run("DELETE FROM layer_leases WHERE holder = ?", {holder});
}

}  // namespace flint::image
