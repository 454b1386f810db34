#include "flist-snapshotter/pack/block_uploader.h"

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {
namespace {

// Encoded blocks waiting for a worker; bounds memory to a few MiB.
constexpr size_t kMaxQueued = 16;

}  // namespace

BlockUploader::BlockUploader(BlockStore& store, int workers) : store_(store) {
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { Work(); });
}

BlockUploader::~BlockUploader() { (void)Finish(); }

absl::StatusOr<std::vector<BlockRef>> BlockUploader::Upload(const ReadFn& read, uint64_t* total) {
  std::vector<BlockRef> blocks;
  *total = 0;
  chunk_.resize(kBlockSize);
  while (true) {
    size_t got = 0;
    while (got < chunk_.size()) {
      auto n = read(chunk_.data() + got, chunk_.size() - got);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      got += *n;
    }
    if (got == 0) break;
    auto block = EncodeBlock(BlockFormat::kV2, std::string_view(chunk_).substr(0, got));
    if (!block.ok()) return block.status();
    blocks.push_back(BlockRef{block->id, block->key});
    if (known_.insert(block->id).second) {
      if (auto s = Enqueue(*std::move(block)); !s.ok()) return s;
    }
    *total += got;
    if (got < chunk_.size()) break;
  }
  return blocks;
}

absl::Status BlockUploader::Enqueue(EncodedBlock block) {
  std::unique_lock<std::mutex> lock(mu_);
  has_space_.wait(lock, [&] { return queue_.size() < kMaxQueued || !error_.ok(); });
  if (!error_.ok()) return error_;  // fail fast once any upload failed
  queue_.push_back(std::move(block));
  has_work_.notify_one();
  return absl::OkStatus();
}

void BlockUploader::Work() {
  while (true) {
    EncodedBlock block;
    {
      std::unique_lock<std::mutex> lock(mu_);
      has_work_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      block = std::move(queue_.front());
      queue_.pop_front();
      has_space_.notify_one();
    }
    // Convergent encryption makes ids global: skip blocks the store has.
    absl::Status s;
    auto exists = store_.Exists(block.id);
    if (!exists.ok()) {
      s = exists.status();
    } else if (!*exists) {
      s = store_.Put(block.id, block.data);
      if (s.ok()) ++uploaded_count_;
    }
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.ok()) {
        error_ = absl::Status(s.code(), absl::StrCat("upload block ", HexEncode(block.id), ": ", s.message()));
      }
      queue_.clear();
      has_space_.notify_all();
    }
  }
}

absl::Status BlockUploader::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  has_work_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace flint::flist
