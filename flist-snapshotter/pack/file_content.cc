#include "flist-snapshotter/pack/file_content.h"

#include <sstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {
namespace {

constexpr size_t kMaxProblems = 100;

}  // namespace

BlockFormat BlockFormatOf(const Flist& flist) {
  return flist.version() == FlistVersion::kV1 ? BlockFormat::kV1 : BlockFormat::kV2;
}

absl::Status WriteFileContent(const Flist& flist, const Entry& entry, BlockStore& store,
                              std::ostream& out) {
  if (entry.type != EntryType::kRegular) {
    return absl::InvalidArgumentError(absl::StrCat(entry.path, ": not a regular file"));
  }
  uint64_t written = 0;
  for (size_t i = 0; i < entry.blocks.size(); ++i) {
    const BlockRef& b = entry.blocks[i];
    auto data = store.Get(b.id);
    if (!data.ok()) {
      return absl::Status(data.status().code(),
                          absl::StrCat(entry.path, ": block ", i, ": ", data.status().message()));
    }
    auto plain = DecodeBlock(BlockFormatOf(flist), b.id, b.key, *data);
    if (!plain.ok()) {
      return absl::Status(plain.status().code(),
                          absl::StrCat(entry.path, ": block ", i, ": ", plain.status().message()));
    }
    out.write(plain->data(), static_cast<std::streamsize>(plain->size()));
    if (!out) return absl::InternalError(absl::StrCat(entry.path, ": write failed"));
    written += plain->size();
  }
  if (written != entry.size) {
    return absl::DataLossError(
        absl::StrCat(entry.path, ": blocks hold ", written, " bytes, file size is ", entry.size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileContent(const Flist& flist, const Entry& entry, BlockStore& store) {
  std::ostringstream out;
  if (auto s = WriteFileContent(flist, entry, store, out); !s.ok()) return s;
  return std::move(out).str();
}

absl::StatusOr<VerifyReport> VerifyFlistBlocks(const Flist& flist, BlockStore& store) {
  VerifyReport report;
  const BlockFormat format = BlockFormatOf(flist);
  std::unordered_map<std::string, bool> checked;  // id -> good
  auto add_problem = [&](std::string line) {
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(line));
  };
  for (const Entry& e : flist.entries()) {
    if (e.type != EntryType::kRegular) continue;
    ++report.files;
    const uint64_t expected = (e.size + kBlockSize - 1) / kBlockSize;
    if (e.blocks.size() != expected) {
      ++report.incomplete_files;
      add_problem(absl::StrCat("incomplete ", e.path, ": ", e.blocks.size(), " blocks for ", e.size, " bytes"));
    }
    for (const BlockRef& b : e.blocks) {
      if (checked.contains(b.id)) continue;
      ++report.unique_blocks;
      auto data = store.Get(b.id);
      if (absl::IsNotFound(data.status())) {
        ++report.missing;
        checked[b.id] = false;
        add_problem(absl::StrCat("missing ", HexEncode(b.id), " (", e.path, ")"));
        continue;
      }
      if (!data.ok()) return data.status();
      auto plain = DecodeBlock(format, b.id, b.key, *data);
      checked[b.id] = plain.ok();
      if (!plain.ok()) {
        ++report.corrupt;
        add_problem(absl::StrCat("bad ", HexEncode(b.id), " (", e.path, "): ", plain.status().message()));
      }
    }
  }
  return report;
}

}  // namespace flint::flist
