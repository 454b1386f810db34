#include "flist-snapshotter/flist/v1_reader.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/percent_encoding.h"
#include "flist-snapshotter/util/absl_compat.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "flist-snapshotter/flist/archive_api.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/flist/capnp_reader.h"
#include "nlohmann/json.hpp"

namespace flint::flist {
namespace {

// The database inside a hub flist is ~10 MB per GB of content; anything past
// this is not a flist we want to hold in memory.
constexpr int64_t kMaxDatabaseSize = 1LL << 30;

// Inode.attributes union discriminants.
enum : uint16_t { kAttrDir = 0, kAttrFile = 1, kAttrLink = 2, kAttrSpecial = 3 };
// Special.type enum.
enum : uint16_t { kSpecialSocket = 0, kSpecialBlock = 1, kSpecialChar = 2, kSpecialFifo = 3 };

// Users without a numeric id fall back to this, as 0-fs and rfs v1 do.
constexpr uint32_t kFallbackId = 1000;

struct Access {
  uint32_t mode = 0755;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

absl::Status Annotate(const absl::Status& s, std::string_view what) {
  return absl::Status(s.code(), absl::StrCat(Av(what), ": ", s.message()));
}

uint32_t ResolveId(int64_t id, std::string_view name) {
  if (id >= 0 && id <= UINT32_MAX) return static_cast<uint32_t>(id);
  uint32_t parsed = 0;
  if (absl::SimpleAtoi(Av(name), &parsed)) return parsed;
  if (name == "root") return 0;
  return kFallbackId;
}

class V1Decoder {
 public:
  explicit V1Decoder(std::unordered_map<std::string, std::string> values)
      : values_(std::move(values)), builder_(FlistVersion::kV1) {}

  absl::StatusOr<Flist> Decode() {
    const std::string root_key = V1DirectoryKey("");
    std::vector<std::pair<std::string, uint32_t>> queue = {{root_key, 0}};
    visited_.insert(root_key);
    bool is_root = true;
    // Breadth-first over directories; each Dir message lists its children.
    for (size_t i = 0; i < queue.size(); ++i) {
      const auto [key, index] = queue[i];
      auto s = DecodeDirectory(key, index, is_root, queue);
      if (!s.ok()) {
        return Annotate(s, absl::StrCat("directory ", builder_.path(index)));
      }
      is_root = false;
    }
    return std::move(builder_).Finish();
  }

  FlistBuilder& builder() { return builder_; }

 private:
  absl::StatusOr<Access> LookupAccess(std::string_view aclkey) {
    std::string key(aclkey);
    if (auto it = acls_.find(key); it != acls_.end()) return it->second;
    auto v = values_.find(key);
    if (v == values_.end()) return absl::NotFoundError(absl::StrCat("ACI ", key, " missing"));
    auto msg = capnp::Message::Parse(v->second);
    if (!msg.ok()) return Annotate(msg.status(), absl::StrCat("ACI ", key));
    auto aci = msg->Root();
    if (!aci.ok()) return Annotate(aci.status(), absl::StrCat("ACI ", key));
    auto uname = aci->Text(0);
    auto gname = aci->Text(1);
    if (!uname.ok() || !gname.ok()) return absl::DataLossError(absl::StrCat("ACI ", key, ": bad names"));
    Access a;
    a.mode = aci->U16(0) & 07777;
    // Int64 fields with default -1 are stored XOR'ed with the default.
    a.uid = ResolveId(static_cast<int64_t>(~aci->U64(8)), *uname);
    a.gid = ResolveId(static_cast<int64_t>(~aci->U64(16)), *gname);
    acls_.emplace(std::move(key), a);
    return a;
  }

  absl::Status DecodeDirectory(const std::string& key, uint32_t index, bool is_root,
                               std::vector<std::pair<std::string, uint32_t>>& queue) {
    auto value = values_.find(key);
    if (value == values_.end()) return absl::NotFoundError(absl::StrCat("Dir entry ", key, " missing"));
    auto msg = capnp::Message::Parse(value->second);
    if (!msg.ok()) return msg.status();
    auto dir = msg->Root();
    if (!dir.ok()) return dir.status();
    if (is_root) {
      auto aclkey = dir->Text(4);
      if (!aclkey.ok()) return aclkey.status();
      Entry& root = builder_.root();
      if (!aclkey->empty()) {
        auto access = LookupAccess(*aclkey);
        if (!access.ok()) return access.status();
        root.mode = access->mode;
        root.uid = access->uid;
        root.gid = access->gid;
      }
      root.size = dir->U64(0);
      root.mtime = dir->U32(8);
    }
    auto contents = dir->StructList(2);
    if (!contents.ok()) return contents.status();
    for (const capnp::Struct& inode : *contents) {
      auto name = inode.Text(0);
      if (!name.ok()) return name.status();
      auto child = DecodeInode(inode);
      if (!child.ok()) return Annotate(child.status(), std::string(*name));
      const bool is_dir = child->entry.type == EntryType::kDirectory;
      auto child_index = builder_.Add(index, *name, std::move(child->entry));
      if (!child_index.ok()) return child_index.status();
      if (is_dir) {
        if (!visited_.insert(child->subdir_key).second) {
          return absl::DataLossError(absl::StrCat("directory key ", child->subdir_key, " referenced twice"));
        }
        queue.emplace_back(std::move(child->subdir_key), *child_index);
      }
    }
    return absl::OkStatus();
  }

  struct DecodedInode {
    Entry entry;
    std::string subdir_key;
  };

  absl::StatusOr<DecodedInode> DecodeInode(const capnp::Struct& inode) {
    DecodedInode out;
    Entry& e = out.entry;
    e.size = inode.U64(0);
    e.mtime = inode.U32(12);
    auto aclkey = inode.Text(2);
    if (!aclkey.ok()) return aclkey.status();
    auto access = LookupAccess(*aclkey);
    if (!access.ok()) return access.status();
    e.mode = access->mode;
    e.uid = access->uid;
    e.gid = access->gid;
    auto attr = inode.StructField(1);
    if (!attr.ok()) return attr.status();
    switch (inode.U16(8)) {
      case kAttrDir: {
        e.type = EntryType::kDirectory;
        auto key = attr->Text(0);
        if (!key.ok()) return key.status();
        out.subdir_key = std::string(*key);
        break;
      }
      case kAttrFile: {
        e.type = EntryType::kRegular;
        auto blocks = attr->StructList(0);
        if (!blocks.ok()) return blocks.status();
        e.blocks.reserve(blocks->size());
        for (const capnp::Struct& b : *blocks) {
          auto hash = b.Data(0);
          auto key = b.Data(1);
          if (!hash.ok()) return hash.status();
          if (!key.ok()) return key.status();
          if (hash->size() != 16 || key->size() != 16) {
            return absl::DataLossError("block hash/key is not 16 bytes");
          }
          e.blocks.push_back(BlockRef{std::string(*hash), std::string(*key)});
        }
        break;
      }
      case kAttrLink: {
        e.type = EntryType::kSymlink;
        auto target = attr->Text(0);
        if (!target.ok()) return target.status();
        e.link_target = std::string(*target);
        break;
      }
      case kAttrSpecial: {
        auto data = attr->Data(0);
        if (!data.ok()) return data.status();
        DecodeSpecial(attr->U16(0), *data, e);
        break;
      }
      default:
        return absl::DataLossError(absl::StrCat("unknown inode kind ", inode.U16(8)));
    }
    return out;
  }

  // libflist never sets Special.type (so it reads as socket); device numbers
  // in the data ("major,minor") are the only reliable signal. Without a type,
  // a device is taken to be a character device, the common case in images.
  static void DecodeSpecial(uint16_t type, std::string_view data, Entry& e) {
    std::vector<absl::string_view> parts = absl::StrSplit(Av(data), ',');
    uint32_t major = 0;
    uint32_t minor = 0;
    const bool has_dev = parts.size() == 2 && absl::SimpleAtoi(parts[0], &major) &&
                         absl::SimpleAtoi(parts[1], &minor);
    switch (type) {
      case kSpecialBlock: e.type = EntryType::kBlockDevice; break;
      case kSpecialChar: e.type = EntryType::kCharDevice; break;
      case kSpecialFifo: e.type = EntryType::kFifo; break;
      default: e.type = has_dev ? EntryType::kCharDevice : EntryType::kSocket; break;
    }
    // st_rdev encoding, as everywhere else in Flint (0-fs used major<<8|minor).
    if (has_dev) e.rdev = makedev(major, minor);
  }

  std::unordered_map<std::string, std::string> values_;
  std::unordered_map<std::string, Access> acls_;
  std::unordered_set<std::string> visited_;
  FlistBuilder builder_;
};

}  // namespace

std::string V1DirectoryKey(std::string_view relative_path) {
  return HexEncode(Blake2bDigest(relative_path, 16));
}

absl::StatusOr<std::string> V1BackendUrl(std::string_view backend_json) {
  auto j = nlohmann::json::parse(backend_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("backend metadata is not a JSON object");
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    if (it == j.end() || it->is_null()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  std::string host = str("host");
  std::string port = str("port");
  if (host.empty()) return absl::InvalidArgumentError("backend metadata has no host");
  std::string url = "zdb://";
  // A password may hold '/', '@', ':' or '%' (ParseStoreUrl decodes it again).
  if (std::string pw = str("password"); !pw.empty()) absl::StrAppend(&url, ":", PercentEncode(pw), "@");
  absl::StrAppend(&url, host, ":", port.empty() ? "9900" : port);
  if (std::string ns = str("namespace"); !ns.empty() && ns != "default") {
    absl::StrAppend(&url, "/", PercentEncode(ns));
  }
  return url;
}

absl::StatusOr<Flist> ReadV1(SqliteDb& db) {
  auto has_entries = db.HasPlainTable("entries");
  if (!has_entries.ok()) return has_entries.status();
  if (!*has_entries) return absl::InvalidArgumentError("no entries table");
  std::unordered_map<std::string, std::string> values;
  {
    auto stmt = db.Prepare("SELECT key, value FROM entries");
    if (!stmt.ok()) return Annotate(stmt.status(), "read entries");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read entries");
      if (!*row) break;
      values.emplace(std::string(stmt->Bytes(0)), std::string(stmt->Bytes(1)));
    }
  }
  V1Decoder decoder(std::move(values));
  auto has_metadata = db.HasPlainTable("metadata");
  if (!has_metadata.ok()) return has_metadata.status();
  if (*has_metadata) {
    auto stmt = db.Prepare("SELECT key, value FROM metadata");
    if (!stmt.ok()) return Annotate(stmt.status(), "read metadata");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read metadata");
      if (!*row) break;
      std::string key(stmt->Bytes(0));
      std::string value(stmt->Bytes(1));
      if (key == "backend") {
        auto url = V1BackendUrl(value);
        if (!url.ok()) return Annotate(url.status(), "metadata backend");
        decoder.builder().AddRoute(Route{0, 255, *url});
      }
      decoder.builder().SetTag(std::move(key), std::move(value));
    }
  }
  return decoder.Decode();
}

absl::StatusOr<Flist> ReadV1Archive(const std::string& path) {
  absl::StatusOr<const ArchiveApi*> api = LoadArchive();
  if (!api.ok()) return api.status();
  const ArchiveApi& la = **api;
  std::unique_ptr<archive, int (*)(archive*)> ar(la.read_new(), la.read_free);
  if (ar == nullptr) return absl::ResourceExhaustedError("archive_read_new failed");
  la.read_support_filter_gzip(ar.get());
  la.read_support_format_tar(ar.get());
  la.read_support_format_gnutar(ar.get());
  if (la.read_open_filename(ar.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("open archive: ", la.error_string(ar.get())));
  }
  archive_entry* entry = nullptr;
  while (true) {
    int rc = la.read_next_header(ar.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat("read archive: ", la.error_string(ar.get())));
    }
    std::string_view name = la.entry_pathname(entry) ? la.entry_pathname(entry) : "";
    while (name.starts_with("./")) name.remove_prefix(2);
    if (name != "flistdb.sqlite3" || la.entry_filetype(entry) != AE_IFREG) continue;
    const int64_t size = la.entry_size(entry);
    if (size <= 0 || size > kMaxDatabaseSize) {
      return absl::InvalidArgumentError(absl::StrCat("flistdb.sqlite3 has implausible size ", size));
    }
    // The size is only the header's claim: memory is taken as data arrives,
    // so a tiny archive claiming a huge database costs little.
    const auto want = static_cast<size_t>(size);
    std::string image;
    std::vector<char> chunk(1 << 16);
    while (image.size() < want) {
      la_ssize_t n = la.read_data(ar.get(), chunk.data(), std::min(chunk.size(), want - image.size()));
      if (n < 0) {
        return absl::DataLossError(absl::StrCat("read flistdb.sqlite3 (", image.size(), " of ", size,
                                                " bytes read): ", la.error_string(ar.get())));
      }
      if (n == 0) break;
      const size_t need = image.size() + static_cast<size_t>(n);
      if (need > image.capacity()) image.reserve(std::min(want, std::max(need, 2 * image.capacity())));
      image.append(chunk.data(), static_cast<size_t>(n));
    }
    if (image.size() != want) {
      return absl::DataLossError(
          absl::StrCat("flistdb.sqlite3 is truncated: ", image.size(), " of ", size, " bytes"));
    }
    auto db = SqliteDb::FromImage(image);
    if (!db.ok()) return db.status();
    image.clear();
    image.shrink_to_fit();
    return ReadV1(*db);
  }
  return absl::InvalidArgumentError("archive holds no flistdb.sqlite3");
}

}  // namespace flint::flist
