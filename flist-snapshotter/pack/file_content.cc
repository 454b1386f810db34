#include "flist-snapshotter/pack/file_content.h"

#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {
namespace {

constexpr size_t kMaxProblems = 100;

uint64_t ExpectedBlockCount(uint64_t size) { return (size + kBlockSize - 1) / kBlockSize; }

// Readers (the FUSE mount, rfs) find byte `pos` in block pos / kBlockSize, so
// every block but the last must hold exactly kBlockSize bytes and the last
// the remainder. Only meaningful once the block count matches the size.
uint64_t ExpectedBlockSize(const Entry& entry, size_t index) {
  return index + 1 < entry.blocks.size() ? kBlockSize : entry.size - index * kBlockSize;
}

}  // namespace

BlockFormat BlockFormatOf(const Flist& flist) {
  return flist.version() == FlistVersion::kV1 ? BlockFormat::kV1 : BlockFormat::kV2;
}

absl::Status WriteFileContent(const Flist& flist, const Entry& entry, BlockStore& store,
                              std::ostream& out) {
  if (entry.type != EntryType::kRegular) {
    return absl::InvalidArgumentError(absl::StrCat(entry.path, ": not a regular file"));
  }
  if (const uint64_t expected = ExpectedBlockCount(entry.size); entry.blocks.size() != expected) {
    return absl::DataLossError(absl::StrCat(entry.path, ": ", entry.blocks.size(), " blocks for ", entry.size,
                                            " bytes, expected ", expected));
  }
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
    if (const uint64_t want = ExpectedBlockSize(entry, i); plain->size() != want) {
      return absl::DataLossError(absl::StrCat(entry.path, ": block ", i, ": decodes to ", plain->size(),
                                              " bytes, expected ", want, " (blocks are ", kBlockSize,
                                              " bytes, the last one the remainder)"));
    }
    out.write(plain->data(), static_cast<std::streamsize>(plain->size()));
    if (!out) return absl::InternalError(absl::StrCat(entry.path, ": write failed"));
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
  // By (id, key), not id alone: two files may name the same stored block with
  // different keys, and only the right key decodes it. Value: plaintext size,
  // or nullopt when the block is bad.
  absl::flat_hash_map<std::pair<std::string, std::string>, std::optional<uint64_t>> decoded;
  absl::flat_hash_set<std::string> missing_ids;
  auto add_problem = [&](std::string line) {
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(line));
  };
  for (const Entry& e : flist.entries()) {
    if (e.type != EntryType::kRegular) continue;
    ++report.files;
    const bool complete = e.blocks.size() == ExpectedBlockCount(e.size);
    if (!complete) {
      ++report.incomplete_files;
      add_problem(absl::StrCat("incomplete ", e.path, ": ", e.blocks.size(), " blocks for ", e.size, " bytes"));
    }
    bool misaligned = false;
    for (size_t i = 0; i < e.blocks.size(); ++i) {
      const BlockRef& b = e.blocks[i];
      if (missing_ids.contains(b.id)) continue;
      auto [it, inserted] = decoded.try_emplace(std::make_pair(b.id, b.key));
      if (inserted) {
        ++report.unique_blocks;
        auto data = store.Get(b.id);
        if (absl::IsNotFound(data.status())) {
          ++report.missing;
          decoded.erase(it);
          missing_ids.insert(b.id);
          add_problem(absl::StrCat("missing ", HexEncode(b.id), " (", e.path, ")"));
          continue;
        }
        if (!data.ok()) return data.status();
        auto plain = DecodeBlock(format, b.id, b.key, *data);
        if (plain.ok()) {
          it->second = plain->size();
        } else {
          ++report.corrupt;
          add_problem(absl::StrCat("bad ", HexEncode(b.id), " (", e.path, "): ", plain.status().message()));
        }
      }
      if (!it->second.has_value() || !complete || misaligned) continue;
      if (const uint64_t want = ExpectedBlockSize(e, i); *it->second != want) {
        misaligned = true;
        ++report.misaligned_files;
        add_problem(absl::StrCat("misaligned ", e.path, ": block ", i, " decodes to ", *it->second,
                                 " bytes, expected ", want));
      }
    }
  }
  return report;
}

}  // namespace flint::flist
